"""The durable outbox on real Redis: every delivery outcome with the money checked, crashes
between steps, takeover by another process, fencing of a stalled owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from bot.core.clock import FixedClock
from bot.core.delivery import DeliveryBlocked, DeliveryFailed, DeliveryRetryAfter, DeliveryUnknown
from bot.core.outbox import Job, JobKind, Produced
from bot.core.reply import Reply
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard
from tests.support.platform import RecordingPlatform
from tests.support.redis_cluster import RedisCluster3

IDENTITY = "tg:4100"
T0 = 1_800_000_000.0


async def account_of(core: Core) -> str:
    """The account of the test user (created on first use, the same from every process)."""
    return await core.accounts.resolve(IDENTITY)


def two_processes(redis_url: str, tmp_path: Path) -> tuple[Core, Core, FixedClock]:
    clock = FixedClock(T0)
    return make_core(redis_url, tmp_path, clock=clock), make_core(redis_url, tmp_path, clock=clock), clock


class Counting:
    """A job kind whose ``produce`` counts calls (stands in for the AI chain)."""

    def __init__(self, charge: bool = True) -> None:
        self.calls = 0
        self.done: list[str] = []
        self.charge = charge

    async def produce(self, job: Job) -> Produced:
        self.calls += 1
        return Produced(Reply(f"answer {self.calls}", private=True), charge=self.charge, data={"n": self.calls})

    async def on_done(self, job: Job, outcome: str) -> None:
        self.done.append(outcome)

    def install(self, *cores: Core) -> None:
        for c in cores:
            c.outbox.register("counting", JobKind(self.produce, self.on_done))


async def paid_job(core: Core, job_id: str = "job-1") -> None:
    aid = await account_of(core)
    hold = await core.ledger.hold(aid, 1, "test", f"idem-{job_id}")
    created = await core.outbox.enqueue(job_id, "counting", aid, platform="tg", lang="ko", hold=hold, kick=False)
    assert created


async def money(core: Core) -> dict[str, int]:
    aid = await account_of(core)
    assert (await core.ledger.reconcile(aid)).ok
    return await core.ledger.account(aid)


async def test_delivered_is_captured_once_and_enqueue_is_idempotent(redis_url: str, tmp_path: Path) -> None:
    core, _, _ = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core)
    assert not await core.outbox.enqueue("job-1", "counting", await account_of(core), platform="tg", lang="ko",
                                      kick=False)  # re-handled update
    assert await core.outbox.run_once("job-1") == "delivered"
    assert [r.text for r in rec.to("4100")] == ["answer 1"]
    acct = await money(core)
    assert acct["balance"] == 2 and acct["held"] == 0 and acct["spent"] == 1
    assert kind.done == ["delivered"] and await core.outbox.state("job-1") == "delivered"
    assert await core.outbox.run_once("job-1") is None  # finished: nothing runs again
    assert 0 < await core.store.redis.ttl(K.outbox_job("job-1")) <= core.settings.product.delivery.keep_seconds


async def test_a_fallback_is_sent_but_never_charged(redis_url: str, tmp_path: Path) -> None:
    core, _, _ = two_processes(redis_url, tmp_path)
    Counting(charge=False).install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core)
    assert await core.outbox.run_once("job-1") == "delivered"
    assert len(rec.to("4100")) == 1 and (await money(core))["balance"] == 3


async def test_transient_failures_are_retried_with_the_hold_renewed(redis_url: str, tmp_path: Path) -> None:
    core, _, clock = two_processes(redis_url, tmp_path)
    Counting().install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core)
    rec.fail(DeliveryFailed("500 Internal Server Error"), DeliveryRetryAfter(60))
    assert await core.outbox.run_once("job-1") == "answered"  # 500: due again after backoff
    assert await core.outbox.run_once("job-1") is None  # not due yet
    clock.advance(core.settings.product.delivery.backoff_base_seconds + 0.01)
    assert await core.outbox.run_once("job-1") == "answered"  # 429: due after retry_after (60 s)
    # Past the hold's original deadline (45 s): the outbox renewed it, so the sweeper keeps it.
    clock.advance(core.settings.product.credits.hold_deadline_seconds + 5)
    assert await core.ledger.release_expired() == 0
    assert (await core.ledger.account(await account_of(core)))["held"] == 1
    assert await core.outbox.run_once("job-1") is None  # still waiting out the 429
    clock.advance(10)
    assert await core.outbox.run_once("job-1") == "delivered"
    acct = await money(core)
    assert acct["balance"] == 2 and acct["held"] == 0 and rec.attempts == 3


async def test_retries_exhausted_and_blocked_release_the_hold(redis_url: str, tmp_path: Path) -> None:
    core, _, clock = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core, "job-a")
    rec.fail(DeliveryFailed("502"))
    assert await core.outbox.run_once("job-a") == "answered"
    clock.advance(core.settings.product.delivery.retry_seconds + 1)
    rec.fail(DeliveryFailed("502"))
    assert await core.outbox.run_once("job-a") == "failed"
    await paid_job(core, "job-b")
    rec.fail(DeliveryBlocked("403 blocked"))
    assert await core.outbox.run_once("job-b") == "failed"
    acct = await money(core)
    assert acct["balance"] == 3 and acct["held"] == 0 and rec.sent == []
    assert kind.done == ["failed", "failed"]


async def test_unknown_outcome_is_not_charged_and_not_resent(redis_url: str, tmp_path: Path) -> None:
    core, _, clock = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core)
    rec.fail(DeliveryUnknown("read timeout after the request left"))
    assert await core.outbox.run_once("job-1") == "unknown"
    clock.advance(3600)
    assert await core.outbox.run_once("job-1") is None
    assert rec.attempts == 1 and kind.done == ["unknown"]
    assert (await money(core))["balance"] == 3


async def test_crash_after_the_answer_was_saved_sends_it_without_asking_again(redis_url: str,
                                                                               tmp_path: Path) -> None:
    first, second, clock = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(first, second)
    RecordingPlatform.install(first)
    rec2 = RecordingPlatform.install(second)
    await onboard(first, await account_of(first))
    await paid_job(first)

    class Crash(BaseException):
        pass

    async def dies(*_: object, **__: object) -> None:
        raise Crash  # the process dies between saving the answer and the send

    first.register_sender("tg", dies)
    try:
        await first.outbox.run_once("job-1")
    except Crash:
        pass
    assert kind.calls == 1 and await first.outbox.state("job-1") == "answered"
    assert await second.outbox.run_once("job-1") is None  # the dead owner's lease still runs
    clock.advance(first.settings.product.delivery.takeover_seconds + 0.01)
    assert await second.outbox.run_once("job-1") == "delivered"
    assert kind.calls == 1 and [r.text for r in rec2.to("4100")] == ["answer 1"]  # the saved answer
    acct = await money(second)
    assert acct["balance"] == 2 and acct["held"] == 0


async def test_a_stalled_owner_cannot_finish_a_job_taken_over(redis_url: str, tmp_path: Path) -> None:
    first, second, clock = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(first, second)
    RecordingPlatform.install(first)
    RecordingPlatform.install(second)
    await onboard(first, await account_of(first))
    await paid_job(first)
    # first claims the job, then stalls (its lease runs out); second takes it over and finishes.
    flat = await first.store.scripts["outbox_claim"](
        keys=[K.outbox_job("job-1"), K.outbox_due(K.outbox_partition("job-1"))], args=["job-1", clock.now_ms(), clock.now_ms() + 1000,
                                                           first.outbox.owner])
    assert flat
    clock.advance(2)
    assert await second.outbox.run_once("job-1") == "delivered"
    # the stalled owner wakes up and tries to record progress: fenced off, nothing changes
    assert not await first.outbox._step("job-1", clock.now_ms() + 1000, state="answered")
    assert await first.outbox.state("job-1") == "delivered"
    assert (await money(first))["balance"] == 2


async def test_the_sweeper_never_releases_a_hold_renewed_after_it_looked(redis_url: str, tmp_path: Path) -> None:
    core, _, clock = two_processes(redis_url, tmp_path)
    await onboard(core, await account_of(core))
    hold = await core.ledger.hold(await account_of(core), 1, "test", "idem-race")
    clock.advance(core.settings.product.credits.hold_deadline_seconds + 1)
    seen_by_sweeper = clock.now_ms()  # the sweeper read this hold as expired ...
    assert await core.ledger.renew(hold, seen_by_sweeper + 60_000)  # ... the outbox renews it ...
    # ... and the sweeper's release, guarded by the deadline it saw, leaves it held.
    assert await core.ledger._settle(hold, "release", "expired hold", due_before_ms=seen_by_sweeper) == "renewed"
    assert (await money(core))["held"] == 1


async def test_a_refused_message_and_an_unknown_kind_end_at_once_uncharged(redis_url: str, tmp_path: Path) -> None:
    from bot.core.delivery import DeliveryRejected

    core, other, clock = two_processes(redis_url, tmp_path)
    Counting().install(core)
    rec = RecordingPlatform.install(core)
    await onboard(core, await account_of(core))
    await paid_job(core, "job-400")
    rec.fail(DeliveryRejected("Bad Request: message is too long"))
    assert await core.outbox.run_once("job-400") == "failed"  # not retried for 15 minutes
    await paid_job(core, "job-kind")
    # a process that does not know this kind (e.g. mid-deploy) gives it up instead of holding credits
    RecordingPlatform.install(other)
    assert await other.outbox.run_once("job-kind") == "failed"
    acct = await money(core)
    assert acct["balance"] == 3 and acct["held"] == 0 and rec.attempts == 1


async def test_a_job_for_a_platform_this_process_does_not_serve_waits_for_one_that_does(
        redis_url: str, tmp_path: Path) -> None:
    telegram_less, telegram, clock = two_processes(redis_url, tmp_path)
    Counting().install(telegram_less, telegram)
    await onboard(telegram, await account_of(telegram))
    await paid_job(telegram)
    assert await telegram_less.outbox.run_once("job-1") is None  # no "tg" sender here: handed on
    assert await telegram.outbox.run_once("job-1") is None  # due again in a second
    clock.advance(1.01)
    rec = RecordingPlatform.install(telegram)
    assert await telegram.outbox.run_once("job-1") == "delivered" and len(rec.to("4100")) == 1
    assert (await money(telegram))["balance"] == 2


async def test_a_job_names_the_account_and_platform_only_and_is_registered_for_erasure(
        redis_url: str, tmp_path: Path) -> None:
    core, _, _ = two_processes(redis_url, tmp_path)
    Counting().install(core)
    aid = await account_of(core)
    await onboard(core, aid)
    await paid_job(core)
    job = await core.store.redis.hgetall(K.outbox_job("job-1"))
    assert job["account"] == aid and job["platform"] == "tg" and "uid" not in job
    assert not any("4100" in v for v in job.values())  # the platform id is resolved at send time
    assert K.outbox_job("job-1").startswith(f"outbox:{{ob:p{K.outbox_partition('job-1')}}}:job:")
    assert core.accounts.key_entry(K.outbox_job("job-1")) in await core.accounts.registry(aid)


async def test_an_account_unreachable_on_its_platform_ends_failed_uncharged(redis_url: str, tmp_path: Path) -> None:
    core, _, _ = two_processes(redis_url, tmp_path)
    kind = Counting()
    kind.install(core)
    rec = RecordingPlatform.install(core)
    aid = await account_of(core)
    await onboard(core, aid)
    await paid_job(core)
    await core.store.redis.hdel(K.account_meta(aid), "id:tg")  # unlinked from Telegram meanwhile
    assert await core.outbox.run_once("job-1") == "failed"
    assert rec.attempts == 0 and kind.done == ["failed"]
    acct = await money(core)
    assert acct["balance"] == 3 and acct["held"] == 0
    assert await core.outbox.run_once("job-1") is None  # final: never tried again


async def test_delete_removes_a_waiting_job_and_gives_the_hold_back(redis_url: str, tmp_path: Path) -> None:
    from bot.core.erasure import erase_account

    core, _, clock = two_processes(redis_url, tmp_path)
    Counting().install(core)
    rec = RecordingPlatform.install(core)
    aid = await account_of(core)
    await onboard(core, aid)
    await paid_job(core)
    rec.fail(DeliveryFailed("502"))
    assert await core.outbox.run_once("job-1") == "answered"  # waiting for a retry, hold renewed
    core.erasers.clear()  # the features' erasers are tested in their areas; here: holds and the registry
    await erase_account(core, aid)
    assert not await core.store.redis.exists(K.outbox_job("job-1"))
    clock.advance(core.settings.product.delivery.backoff_max_seconds + 1)
    assert await core.outbox.run_once("job-1") is None  # the due entry finds no job and leaves
    assert await core.outbox.figures() == {"outbox_queued": 0, "outbox_overdue": 0, "outbox_running_here": 0}
    assert (await core.ledger.account(aid))["held"] == 0 and rec.sent == []


async def test_due_jobs_come_fairly_from_every_partition(redis_url: str, tmp_path: Path) -> None:
    core, _, clock = two_processes(redis_url, tmp_path)
    aid = await account_of(core)
    await onboard(core, aid, bonus=False)
    ids = [f"n-{i}" for i in range(2000)]
    busy = [j for j in ids if K.outbox_partition(j) == 3][:30]
    quiet = next(j for j in ids if K.outbox_partition(j) == 11)
    for job_id in [*busy, quiet]:  # the busy partition's jobs are all older than the quiet one's
        assert await core.outbox.enqueue(job_id, "notice", aid, platform="tg", lang="ko", reply=Reply("hi"),
                                         kick=False)
        clock.advance(0.001)
    seen: set[str] = set()
    for _ in range(2):  # the start partition rotates; either way the quiet partition is served
        due = await core.outbox.due_jobs(clock.now_ms(), 4)
        assert len(due) == 4 and quiet in due
        seen.update(due)
    assert seen <= {*busy, quiet}
    figures = await core.outbox.figures()
    assert figures["outbox_queued"] == 31 and figures["outbox_overdue"] == 0
    clock.advance(core.settings.product.delivery.takeover_seconds + 1)
    assert (await core.outbox.figures())["outbox_overdue"] == 31


# --- Redis Cluster ---------------------------------------------------------------------------

@pytest.fixture
async def cluster_core(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    c = make_core(redis_cluster.url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


async def test_a_job_is_delivered_and_charged_once_on_a_cluster(cluster_core: Core) -> None:
    core = cluster_core
    kind = Counting()
    kind.install(core)
    rec = RecordingPlatform.install(core)
    aid = await account_of(core)
    await onboard(core, aid)
    # A job's hash and its partition's due set share one slot (v1's "outbox:due" did not: CROSSSLOT).
    assert key_slot(K.outbox_job("job-1").encode()) == key_slot(K.outbox_due(K.outbox_partition("job-1")).encode())
    await paid_job(core)
    assert not await core.outbox.enqueue("job-1", "counting", aid, platform="tg", lang="ko", kick=False)
    assert await core.outbox.run_once("job-1") == "delivered"
    assert await core.outbox.run_once("job-1") is None
    assert [r.text for r in rec.to("4100")] == ["answer 1"] and kind.done == ["delivered"]
    acct = await money(core)
    assert acct["balance"] == 2 and acct["held"] == 0 and acct["spent"] == 1
    # Notices in many partitions (on every master): the poller finds and delivers them all.
    ids = [f"notice-{i}" for i in range(24)]
    assert len({K.outbox_partition(j) for j in ids}) > 8
    for job_id in ids:
        await core.outbox.enqueue(job_id, "notice", aid, platform="tg", lang="ko", reply=Reply(job_id), kick=False)
    assert (await core.outbox.figures())["outbox_queued"] == 24
    await core.outbox.start()
    try:
        assert await core.outbox.drain(20)
    finally:
        await core.outbox.stop(1)
    assert sorted(r.text for r in rec.to("4100")[1:]) == sorted(ids)
    assert (await core.outbox.figures())["outbox_queued"] == 0
