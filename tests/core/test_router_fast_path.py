"""The router's per-command Redis work for an existing account seen for the first time by this
process: no meta or index re-write (the meta the rate-limit script reads is the check), and a
half-created account (identity mapped, meta or index entry missing) is still repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard

pytestmark = pytest.mark.both_backends


async def meta_and_index_writes(core: Core) -> int:
    """HSET + HSETNX + SADD calls the server(s) ran so far (INFO commandstats, every node)."""
    r = core.store.redis
    if core.store.topology == "cluster":
        per_node = await r.info("commandstats", target_nodes=r.ALL_NODES)
        infos = list(per_node.values())
    else:
        infos = [await r.info("commandstats")]
    return sum(int(i.get(f"cmdstat_{c}", {}).get("calls", 0)) for i in infos for c in ("hset", "hsetnx", "sadd"))


async def test_a_known_account_on_a_cold_cache_is_not_rewritten(redis_url: str, tmp_path: Path, core: Core) -> None:
    await onboard(core, "tg:71")
    aid = await core.accounts.lookup("tg:71")
    assert aid is not None
    before = await core.store.redis.hgetall(K.account_meta(aid))
    fresh = make_core(redis_url, tmp_path)  # another process: nothing cached
    try:
        writes = await meta_and_index_writes(fresh)
        replies = await fresh.router.handle(Event("tg", "71", "/fortune", chat_id="71", request_id="r1"))
        assert replies and replies[0].error is None
        assert await meta_and_index_writes(fresh) == writes and fresh.accounts.cached("tg:71") == aid
        assert await fresh.store.redis.hgetall(K.account_meta(aid)) == before
    finally:
        await fresh.store.close()


async def test_a_half_created_account_is_repaired_by_the_next_command(redis_url: str, tmp_path: Path,
                                                                       core: Core) -> None:
    await onboard(core, "tg:72")
    aid = await core.accounts.lookup("tg:72")
    assert aid is not None
    # A creation that crashed after the identity mapping: the meta never named the identity,
    # and the account is missing from the index.
    await core.store.redis.hdel(K.account_meta(aid), "id:tg", "pd:tg")
    await core.store.redis.srem(K.accounts_index(), aid)
    fresh = make_core(redis_url, tmp_path)
    try:
        replies = await fresh.router.handle(Event("tg", "72", "/fortune", chat_id="72", request_id="r2"))
        assert replies and replies[0].error is None and "/fortune details" in [
            b.command for row in replies[0].buttons for b in row]
        meta = await fresh.store.redis.hgetall(K.account_meta(aid))
        assert meta["id:tg"] == "72" and meta.get("pd:tg")
        assert await fresh.store.redis.sismember(K.accounts_index(), aid)
    finally:
        await fresh.store.close()
