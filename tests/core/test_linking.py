"""bot.core.linking: codes, attach/detach steps, and crashes between them (real Redis, standalone
and cluster). A crash is reproduced by running the steps ``attach`` runs up to a point and
leaving the rest to the sweeper (``finish_pending_links``), as a restarted process would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core import linking
from bot.core.clock import FixedClock
from bot.core.errors import BotError, ErrorCode
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard

pytestmark = pytest.mark.both_backends

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


async def _keys(core: Core) -> list[str]:
    r = core.store.redis
    return [k async for k in r.scan_iter("*")]


async def _half_attach(core: Core, identity: str, source: str, code: str) -> str:
    """Steps 1-5 of ``attach`` (claim, pending, meta, mapping moved), then a crash."""
    digest = linking.code_digest(core, code)
    status, target = await core.store.scripts["link_code_claim"](
        keys=[K.link_code(digest)], args=[core.accounts.identity_digest(identity), core.clock.now_ms()])
    assert status == "ok"
    await core.store.redis.zadd(K.links_pending(), {target: core.clock.now_ms()})
    assert await core.accounts.attach(target, identity, source) == "ok"
    assert await core.accounts.move(identity, source, target) == "moved"
    return str(target)


async def test_the_code_is_stored_only_as_a_keyed_hash_and_expires(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    issued = await linking.issue_code(fcore, tg.uid)
    for key in await _keys(fcore):
        assert issued.code not in key
        if await fcore.store.redis.type(key) == "hash":
            assert issued.code not in str(await fcore.store.redis.hgetall(key))
    # A new code replaces the previous one.
    newer = await linking.issue_code(fcore, tg.uid)
    src = await fcore.accounts.resolve("dc:2")
    with pytest.raises(BotError) as old:
        await linking.preview(fcore, "dc:2", src, issued.code)
    assert old.value.code is ErrorCode.NOT_FOUND
    fcore.clock.advance(linking.CODE_TTL_MS / 1000 + 1)  # type: ignore[attr-defined]
    with pytest.raises(BotError) as late:
        await linking.preview(fcore, "dc:2", src, newer.code)
    assert late.value.code is ErrorCode.NOT_FOUND


async def test_crash_after_the_mapping_moved_is_finished_by_the_sweeper(fcore: Core) -> None:
    """The worst point: the identity already reaches the target, the source still exists."""
    tg = await onboard(fcore, "tg:1")
    dc = await onboard(fcore, "dc:2")
    person = await fcore.accounts.person(tg.uid)
    issued = await linking.issue_code(fcore, tg.uid)
    target = await _half_attach(fcore, "dc:2", dc.uid, issued.code)
    assert target == tg.uid
    assert await fcore.store.redis.zscore(K.links_pending(), target) is not None

    assert await linking.finish_pending_links(fcore) == 0  # too fresh: a live attach may own it
    fcore.clock.advance(61)  # type: ignore[attr-defined]
    assert await linking.finish_pending_links(fcore) == 1
    r = fcore.store.redis
    assert await fcore.accounts.resolve("dc:2") == tg.uid
    assert not await r.exists(K.account_meta(dc.uid), K.profile(dc.uid))  # the source is erased
    meta = await fcore.accounts.meta(tg.uid)
    assert not any(f.startswith("lk:") for f in meta)
    assert await r.zcard(K.links_pending()) == 0
    assert await fcore.accounts.person(tg.uid) == person  # the account's person is unchanged
    assert await fcore.ledger.welcome_bonus(tg.uid, "dc:2") is None
    # Running the sweeper (or the user's retry) again changes nothing.
    assert await linking.finish_pending_links(fcore) == 0
    assert await fcore.accounts.resolve("dc:2") == tg.uid


async def test_a_retry_after_a_crash_resumes_with_the_same_code(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    src = await fcore.accounts.resolve("dc:2")  # never onboarded
    issued = await linking.issue_code(fcore, tg.uid)
    await _half_attach(fcore, "dc:2", src, issued.code)
    plan = await linking.attach(fcore, "dc:2", src, linking.code_digest(fcore, issued.code))
    assert plan.target == tg.uid
    assert await fcore.store.redis.zcard(K.links_pending()) == 0
    # Another identity cannot use the code it claimed.
    other = await fcore.accounts.resolve("dc:3")
    with pytest.raises(BotError):
        await linking.attach(fcore, "dc:3", other, linking.code_digest(fcore, issued.code))


async def test_a_source_that_gained_history_meanwhile_is_undone(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    dc = await onboard(fcore, "dc:2")
    issued = await linking.issue_code(fcore, tg.uid)
    await _half_attach(fcore, "dc:2", dc.uid, issued.code)
    # A process that still cached dc:2 -> its old account records a grant there meanwhile.
    await fcore.ledger.grant(dc.uid, 10, "purchase", "tgpay:x", kind="purchase")
    fcore.clock.advance(61)  # type: ignore[attr-defined]
    await linking.finish_pending_links(fcore)
    assert await fcore.accounts.resolve("dc:2") == dc.uid  # moved back: nothing is lost
    assert await fcore.accounts.identities(tg.uid) == {"tg": "1"}
    assert await fcore.ledger.balance(dc.uid) == 10 + fcore.settings.product.credits.welcome_bonus
    assert await fcore.store.redis.zcard(K.links_pending()) == 0


async def test_concurrent_unlinks_never_strip_the_last_identity(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    src = await fcore.accounts.resolve("dc:2")
    issued = await linking.issue_code(fcore, tg.uid)
    await linking.attach(fcore, "dc:2", src, linking.code_digest(fcore, issued.code))
    results = await asyncio.gather(linking.detach(fcore, tg.uid, "tg"), linking.detach(fcore, tg.uid, "dc"),
                                   return_exceptions=True)
    ok = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, BotError)]
    assert len(ok) == 1 and len(refused) == 1
    assert refused[0].code is ErrorCode.FORBIDDEN
    assert len(await fcore.accounts.identities(tg.uid)) == 1


async def test_crash_in_unlink_after_the_meta_step_leaves_it_linked(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    src = await fcore.accounts.resolve("dc:2")
    issued = await linking.issue_code(fcore, tg.uid)
    await linking.attach(fcore, "dc:2", src, linking.code_digest(fcore, issued.code))
    assert await fcore.accounts.detach(tg.uid, "dc:2") == "ok"  # step 2, then a crash
    fcore.accounts.forget("dc:2")
    assert await fcore.accounts.resolve("dc:2") == tg.uid  # the next message repairs the meta
    assert await fcore.accounts.identities(tg.uid) == {"tg": "1", "dc": "2"}
    assert await linking.detach(fcore, tg.uid, "dc") == "dc:2"  # and /unlink again finishes
    assert await fcore.accounts.resolve("dc:2") != tg.uid
