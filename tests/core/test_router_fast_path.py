"""The router's per-command Redis work for an existing account seen for the first time by this
process: no meta or index re-write (the meta the rate-limit script reads is the check), and a
half-created account (identity mapped, meta or index entry missing) is still repaired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FixedClock
from bot.core.features.content_cmd import details_keys, unlock_details
from bot.core.i18n import t
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard

pytestmark = pytest.mark.both_backends


async def calls(core: Core, *commands: str) -> int:
    """How many of ``commands`` the server(s) ran so far, in scripts too (INFO commandstats)."""
    r = core.store.redis
    if core.store.topology == "cluster":
        per_node = await r.info("commandstats", target_nodes=r.ALL_NODES)
        infos = list(per_node.values())
    else:
        infos = [await r.info("commandstats")]
    return sum(int(i.get(f"cmdstat_{c}", {}).get("calls", 0)) for i in infos for c in commands)


async def meta_and_index_writes(core: Core) -> int:
    return await calls(core, "hset", "hsetnx", "sadd")


async def exists_calls(core: Core) -> int:
    return await calls(core, "exists")


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


@pytest.mark.parametrize("hour", [0, 11, 12, 13, 23])
def test_prefetched_unlock_markers_cover_every_time_zone(hour: int) -> None:
    now = datetime(2026, 3, 1, hour, 30, tzinfo=UTC)
    keys = details_keys("acc1", int(now.timestamp() * 1000))
    for zone in ("Etc/GMT+12", "Pacific/Pago_Pago", "UTC", "Asia/Seoul", "Pacific/Kiritimati"):
        day = now.astimezone(ZoneInfo(zone)).date()
        assert K.unlock("acc1", "fortune_details", day.isoformat()) in keys
    assert 2 <= len(keys) <= 3


async def test_fortune_reads_its_unlock_marker_in_the_routers_round_trip(redis_url: str, tmp_path: Path,
                                                                          core: Core) -> None:
    clock = FixedClock(datetime(2026, 3, 1, 16, 0, tzinfo=UTC).timestamp())  # already Mar 2 in Seoul
    fresh = make_core(redis_url, tmp_path, clock=clock)
    try:
        aid = (await onboard(fresh, "tg:73", tz="Asia/Seoul")).uid
        event = Event("tg", "73", "/fortune", chat_id="73", request_id="r3")
        [locked] = await fresh.router.handle(event)
        assert locked.buttons[0][0].label == t("ko", "fortune.details_button", cost=fresh.ledger.cost("fortune_details"))
        await unlock_details(fresh, aid, date(2026, 3, 2))  # the user's own day, not UTC's
        [free] = await fresh.router.handle(replace(event, request_id="r4"))
        assert free.buttons[0][0].label == t("ko", "fortune.details_button_free")
        exists = await exists_calls(fresh)
        await fresh.router.handle(replace(event, request_id="r5"))
        # The markers were read inside the router's script (EXISTS there), not by a command of its own.
        assert await exists_calls(fresh) == exists + len(details_keys(aid, clock.now_ms()))
    finally:
        await fresh.store.close()
