"""End to end: tick -> stream -> workers -> real PTB sender -> fake Bot API.

Three bot instances (Cores sharing one Redis, each with its own tick and workers), counting
sendMessage calls per chat in the fake server.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date

import pytest

from bot.core.broadcast import broadcast_status, pause_broadcast, resume_broadcast, tick
from bot.core.broadcast.options import GROUP
from bot.core.broadcast.status import recent_dead_letters
from bot.core.fortune import FortuneEngine
from bot.core.saju import chart_for
from bot.core.store import K
from tests.core.broadcast.conftest import FAST, Rig, utc

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def due_now(rig: Rig, n: int, first: int = 1, hhmm: str = "00:01", tz: str = "UTC") -> list[int]:
    """``n`` subscribers all due at 00:01 UTC on 2025-06-15 (the rig's clock starts at 00:00)."""
    ids = list(range(first, first + n))
    await rig.subscribe_many([(i, hhmm, tz) for i in ids])
    rig.clock.set(utc(2025, 6, 15, 0, 1))
    return ids


async def test_three_instances_2000_subscribers_each_get_exactly_one(rig: Rig) -> None:
    for _ in range(3):
        await rig.add_instance()
    ids = await due_now(rig, 2000)
    # Every instance ticks (twice), concurrently, while every instance's workers run.
    await rig.start_workers()
    results = await asyncio.gather(*(tick(i.core) for i in rig.instances for _ in range(2)))
    assert sum(r.queued for r in results) == 2000
    marks = await rig.wait_settled([rig.uid(i) for i in ids], timeout=90)
    assert set(marks.values()) == {"2025-06-15:S"}
    counts = [rig.messages(i) for i in ids]
    assert counts == [1] * 2000
    assert all(inst.runner.sent > 0 for inst in rig.instances)  # the work was shared
    assert sum(inst.runner.sent for inst in rig.instances) == 2000
    status = await broadcast_status(rig.core)
    assert (status["queued"], status["sent"], status["unknown"], status["failed"]) == (2000, 2000, 0, 0)
    assert status["pending"] == 0 and status["due"] == 0 and status["subscribers"] == 2000
    # A second round of ticks the same day sends nothing more.
    assert sum(r.queued for r in await asyncio.gather(*(tick(i.core) for i in rig.instances))) == 0
    await asyncio.sleep(0.3)
    assert len(rig.api.calls_to("sendMessage")) == 2000


async def test_killed_worker_never_causes_a_second_message(rig: Rig) -> None:
    for _ in range(3):
        await rig.add_instance()
    victim = rig.instances[0]
    inner = victim.core.senders["tg"]
    n_before_kill = 40
    done = 0
    killed = asyncio.Event()

    async def counting(user_id: str, reply: object) -> None:
        nonlocal done
        await inner(user_id, reply)  # type: ignore[arg-type]
        done += 1
        if done == n_before_kill:
            victim.runner.kill()  # the process dies: sent, but never confirmed; others in flight too
            killed.set()

    victim.core.register_sender("tg", counting)
    ids = await due_now(rig, 600)
    # Give the victim a head start so it holds entries when it dies.
    await victim.runner.start(scheduler=False)
    assert (await tick(victim.core)).queued == 600
    await asyncio.wait_for(killed.wait(), 30)
    await victim.runner.join()
    in_flight_cap = victim.runner.options.workers
    await rig.instances[1].runner.start(scheduler=False)
    await rig.instances[2].runner.start(scheduler=False)
    uids = [rig.uid(i) for i in ids]
    marks = await rig.wait_settled(uids, timeout=60)
    counts = {i: rig.messages(i) for i in ids}
    assert max(counts.values()) == 1  # nobody got two
    unknown = [i for i in ids if marks[rig.uid(i)].endswith(":u")]
    assert set(marks[u][11:] for u in uids) <= {"S", "u"}
    # At most the sends that were in flight when it died. (The one that triggered the kill may
    # still have been confirmed: cancellation lands after its confirm went out on the socket.)
    assert len(unknown) <= in_flight_cap
    assert all(counts[i] == 1 for i in ids if marks[rig.uid(i)].endswith(":S"))
    assert sum(counts.values()) >= 600 - len(unknown)
    # The remainder was taken over from the dead consumer (XAUTOCLAIM) and delivered.
    pending = await rig.core.store.redis.xpending(K.broadcast_stream("tg"), GROUP)
    assert pending["pending"] == 0
    assert rig.instances[1].runner.sent + rig.instances[2].runner.sent >= 600 - n_before_kill - in_flight_cap
    status = await broadcast_status(rig.core)
    assert status["unknown"] == len(unknown)
    assert status["sent"] + status["unknown"] == 600


async def test_blocked_user_and_lost_chat_are_unsubscribed(rig: Rig) -> None:
    await rig.add_instance()
    ids = await due_now(rig, 3)
    rig.api.block_chat(ids[0])  # 403 Forbidden: bot was blocked by the user
    rig.api.lose_chat(ids[1])  # 400 Bad Request: chat not found
    await rig.start_workers()
    assert (await tick(rig.core)).queued == 3
    marks = await rig.wait_settled([rig.uid(i) for i in ids])
    assert [marks[rig.uid(i)] for i in ids] == ["2025-06-15:b", "2025-06-15:b", "2025-06-15:S"]
    r = rig.core.store.redis
    for i in ids[:2]:
        assert await r.hget(K.broadcast_subs(), rig.uid(i)) is None
        assert await r.zscore(K.broadcast_due(), rig.uid(i)) is None
    assert await r.hget(K.broadcast_subs(), rig.uid(ids[2])) == "00:01|tg"
    assert [rig.messages(i) for i in ids] == [0, 0, 1]
    assert (await broadcast_status(rig.core))["blocked"] == 2


async def test_429_waits_retry_after_and_sends_once(rig: Rig) -> None:
    inst = await rig.add_instance()
    assert inst.adapter is not None
    ids = await due_now(rig, 2)
    # First chat: one 429, absorbed by the adapter's limiter (pauses the chat, retries).
    rig.api.fail_next("sendMessage", times=1, retry_after=1, chat_id=ids[0])
    await rig.start_workers()
    await tick(rig.core)
    marks = await rig.wait_settled([rig.uid(i) for i in ids], timeout=15)
    assert set(marks.values()) == {"2025-06-15:S"}
    assert [c.status for c in rig.api.calls_to("sendMessage", ok_only=False, chat_id=ids[0])] == [429, 200]
    # Second case: the adapter gives up at once; the broadcast schedules the retry after retry_after.
    inst.adapter.rate_limiter.max_retries = 0
    more = await due_now(rig, 1, first=100, hhmm="00:02")
    rig.clock.set(utc(2025, 6, 15, 0, 2))
    rig.api.fail_next("sendMessage", times=1, retry_after=1, chat_id=more[0])
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tick(rig.core)
    await rig.wait_settled([rig.uid(100)], timeout=15)
    calls = rig.api.calls_to("sendMessage", ok_only=False, chat_id=100)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9 and loop.time() - started >= 0.9
    status = await broadcast_status(rig.core)
    assert (status["sent"], status["retried"], status["failed"]) == (3, 1, 0)


async def test_repeated_failures_go_to_the_dead_letter_stream(rig: Rig) -> None:
    await rig.add_instance()
    ids = await due_now(rig, 2)
    rig.api.fail_next("sendMessage", times=10, code=500, description="Internal Server Error", chat_id=ids[0])
    rig.api.fail_next("sendMessage", times=1, code=502, description="Bad Gateway", chat_id=ids[1])
    await rig.start_workers()
    await tick(rig.core)
    marks = await rig.wait_settled([rig.uid(i) for i in ids], timeout=15)
    assert marks[rig.uid(ids[0])] == "2025-06-15:f"
    assert marks[rig.uid(ids[1])] == "2025-06-15:S"  # one failure, then a successful retry
    assert len(rig.api.calls_to("sendMessage", ok_only=False, chat_id=ids[0])) == FAST.max_attempts
    [dead] = await recent_dead_letters(rig.core)
    assert dead["uid"] == rig.uid(ids[0]) and dead["day"] == "2025-06-15" and dead["attempts"] == FAST.max_attempts
    status = await broadcast_status(rig.core)
    assert (status["failed"], status["dead_letter"], status["sent"], status["retried"]) == (1, 1, 1, 3)
    assert await rig.core.store.redis.hget(K.broadcast_subs(), rig.uid(ids[0])) == "00:01|tg"  # still subscribed


async def test_message_is_todays_fortune_in_the_users_language_with_buttons(rig: Rig) -> None:
    await rig.add_instance()
    # Same UTC instant, different local days (Honolulu UTC-10, Kiritimati UTC+14).
    rig.clock.set(utc(2025, 6, 15, 10, 30))
    await rig.subscribe_many([(10, "01:00", "Pacific/Honolulu")], lang="en")
    await rig.subscribe_many([(14, "01:00", "Pacific/Kiritimati")], lang="ko")
    rig.clock.set(utc(2025, 6, 15, 11, 0))
    await rig.start_workers()
    assert (await tick(rig.core)).queued == 2
    marks = await rig.wait_settled([rig.uid(10), rig.uid(14)])
    assert marks == {rig.uid(10): "2025-06-15:S", rig.uid(14): "2025-06-16:S"}
    engine = FortuneEngine.load()
    zones = {10: "Pacific/Honolulu", 14: "Pacific/Kiritimati"}
    for chat, day, lang in ((10, date(2025, 6, 15), "en"), (14, date(2025, 6, 16), "ko")):
        [call] = rig.api.calls_to("sendMessage", chat_id=chat)
        chart = chart_for(date(1990, 5, 17), None, zones[chat])  # the 사주 input, read in the user's zone
        expected = engine.render_summary(engine.daily(rig.uid(chat), date(1990, 5, 17), day, lang, chart=chart))  # type: ignore[arg-type]
        assert expected in call["text"]
        assert "/unsubscribe" in call["text"]
        data = [b.get("callback_data") for b in call.buttons]
        assert {"/fortune details", "/unsubscribe"} <= set(data)
    assert "Here is today's fortune" in rig.api.calls_to("sendMessage", chat_id=10)[0]["text"]
    assert re.search(r"6월 16일", rig.api.calls_to("sendMessage", chat_id=14)[0]["text"])


async def test_catch_up_after_outage_same_day_only(rig: Rig) -> None:
    await rig.add_instance()
    rig.clock.set(utc(2025, 6, 14, 22, 0))  # 07:00 KST
    await rig.subscribe_many([(1, "08:00", "Asia/Seoul")])
    await rig.subscribe_many([(2, "08:00", "America/New_York")])  # 08:00 EDT = 12:00Z on 06-15
    # Every instance was down; one comes back at 20:00 KST (11:00Z): Seoul's 08:00 passed
    # today -> sent; New York's local day (06-15, 07:00) has not reached 08:00 -> waits.
    rig.clock.set(utc(2025, 6, 15, 11, 0))
    await rig.start_workers()
    res = await tick(rig.core)
    assert res.queued == 1
    await rig.wait_settled([rig.uid(1)])
    assert (rig.messages(1), rig.messages(2)) == (1, 0)
    # The next outage spans New York's whole 06-15 and 06-16 08:00; back at 06-17 03:00 EDT.
    rig.clock.set(utc(2025, 6, 17, 7, 0))
    res = await tick(rig.core)
    assert res.queued == 1  # Seoul: 06-17 16:00 KST, today's 08:00 passed -> today's fortune
    await asyncio.sleep(0.3)
    assert rig.messages(2) == 0  # never yesterday's
    assert await rig.core.store.redis.zscore(K.broadcast_due(), rig.uid(2)) == utc(2025, 6, 17, 12, 0)
    marks = await rig.wait_settled([rig.uid(1), rig.uid(2)])
    assert marks[rig.uid(1)] == "2025-06-17:S" and rig.uid(2) not in marks


async def test_stale_entry_is_expired_not_sent(rig: Rig) -> None:
    await rig.add_instance()
    ids = await due_now(rig, 1, hhmm="00:01", tz="UTC")
    await tick(rig.core)  # queued for 06-15, but no worker runs until the day is over
    rig.clock.set(utc(2025, 6, 16, 0, 0, 30))
    await rig.start_workers()
    marks = await rig.wait_settled([rig.uid(ids[0])])
    assert marks[rig.uid(ids[0])] == "2025-06-15:x"
    assert rig.messages(ids[0]) == 0
    assert (await broadcast_status(rig.core))["expired"] == 1


async def test_pause_holds_workers_and_resume_delivers(rig: Rig) -> None:
    await rig.add_instance()
    ids = await due_now(rig, 5)
    await tick(rig.core)
    await pause_broadcast(rig.core, by="tg:admin")
    await rig.start_workers()
    await asyncio.sleep(0.4)
    assert rig.api.calls_to("sendMessage") == []
    status = await broadcast_status(rig.core)
    assert status["paused"] and status["pending"] == 5 and "tg:admin" in status["paused_by"]
    await resume_broadcast(rig.core)
    await rig.wait_settled([rig.uid(i) for i in ids])
    assert [rig.messages(i) for i in ids] == [1] * 5


async def test_an_account_with_no_identity_on_the_platform_is_unsubscribed_and_counted(rig: Rig) -> None:
    await rig.add_instance()
    ids = await due_now(rig, 2)
    r = rig.core.store.redis
    await tick(rig.core)  # queued for both
    gone = rig.uid(ids[0])
    await r.hdel(K.account_meta(gone), "id:tg")  # unlinked from Telegram while the entry waited
    await rig.start_workers()
    marks = await rig.wait_settled([rig.uid(i) for i in ids])
    assert marks == {gone: "2025-06-15:x", rig.uid(ids[1]): "2025-06-15:S"}
    assert [rig.messages(i) for i in ids] == [0, 1]
    assert await r.hget(K.broadcast_subs(), gone) is None and await r.zscore(K.broadcast_due(), gone) is None
    status = await broadcast_status(rig.core)
    assert (status["unreachable"], status["sent"], status["failed"], status["pending"]) == (1, 1, 0, 0)
    # Nothing is retried for it: the next day's tick has no entry for the account.
    rig.clock.set(utc(2025, 6, 16, 0, 1))
    assert (await tick(rig.core)).queued == 1
