"""Per-day delivery markers: listpack-sized buckets that expire as a whole; legacy markers read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.core.broadcast import Subscriptions, tick
from bot.core.broadcast.marks import PER_BUCKET, field_uid, later_days, mark_bucket, mark_field, read_marks
from bot.core.broadcast.options import GROUP
from bot.core.clock import FixedClock
from bot.core.service import Core
from bot.core.store import K
from tests.core.broadcast.conftest import utc
from tests.support.factory import make_core, onboard_account

pytestmark = pytest.mark.both_backends

DAY = "2025-06-15"


async def _subscribe(core: Core, n: int) -> list[str]:
    subs = Subscriptions(core)
    aids = []
    for i in range(n):
        aid = f"a{i:016x}"
        await onboard_account(core, aid, tz="UTC", bonus=False)
        await subs.subscribe(aid, "00:01", "UTC", platform="tg")
        aids.append(aid)
    return aids


async def _claim(core: Core, aid: str, day: str, entry_id: str) -> str:
    return str(await core.store.scripts["broadcast_claim"](
        keys=[K.broadcast_marks(), K.broadcast_subs(), K.broadcast_stats(day), K.broadcast_stream("tg"),
              K.broadcast_due()],
        args=[aid, day, GROUP, entry_id, 3600, K.broadcast_mark_prefix(), PER_BUCKET, *later_days(day),
              int(core.clock.now())]))


async def test_markers_fill_small_buckets_of_one_day_that_expire_together(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 15, 0, 0))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        aids = await _subscribe(core, 200)
        clock.set(utc(2025, 6, 15, 0, 1))
        assert (await tick(core)).queued == 200
        r = core.store.redis
        n = int(await r.get(K.broadcast_mark_count(DAY)))
        assert n == math.ceil(200 / PER_BUCKET) == 4
        sizes = []
        for b in range(n):
            flat = await r.execute_command("HGETALL", K.broadcast_mark_bucket(DAY, b), NEVER_DECODE=True)
            bucket = dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else dict(flat)
            # The Lua and Python agree on the bucket and on the packed field (8 raw bytes).
            assert all(len(f) == 8 and mark_bucket(field_uid(f), n) == b for f in bucket)
            assert {mark_field(field_uid(f)) for f in bucket} == set(bucket)
            assert set(bucket.values()) == {b"q"}
            assert await r.object("encoding", K.broadcast_mark_bucket(DAY, b)) == "listpack"
            # Expires as a whole at 14:00 UTC the day after (now: 00:01 on the day).
            assert await r.ttl(K.broadcast_mark_bucket(DAY, b)) in range(86400 + 50400 - 120, 86400 + 50400 - 59)
            sizes.append(len(bucket))
        assert sum(sizes) == 200 and max(sizes) <= 128
        assert await r.ttl(K.broadcast_mark_count(DAY)) > 86400 + 50400 - 120
        assert await read_marks(core) == {aid: f"{DAY}:q" for aid in aids}
        assert not await r.exists(K.broadcast_marks())  # nothing in the legacy hash
        # /delete forgets the marker in its bucket (and is idempotent).
        for _ in range(2):
            await Subscriptions(core).erase(aids[0])
        assert aids[0] not in await read_marks(core)
        assert len(await read_marks(core)) == 199
    finally:
        await core.store.close()


async def test_an_entry_queued_in_the_legacy_layout_is_sent_once(redis_url: str, tmp_path: Path) -> None:
    """Upgrading in the middle of a day: the marker an older process wrote (one field of the
    legacy hash) is honoured by the new steps and moves to the day's bucket on its next change."""
    clock = FixedClock(utc(2025, 6, 15, 0, 1))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        [aid] = await _subscribe(core, 1)
        r = core.store.redis
        await r.hset(K.broadcast_marks(), aid, f"{DAY}:q")
        entry = await r.xadd(K.broadcast_stream("tg"), {"u": aid, "d": DAY, "a": "0"})
        await r.xgroup_create(K.broadcast_stream("tg"), GROUP, id="0")
        await r.xreadgroup(GROUP, "c1", {K.broadcast_stream("tg"): ">"})
        assert await _claim(core, aid, DAY, entry) == "ok"
        assert await r.hget(K.broadcast_marks(), aid) is None  # moved out of the legacy hash
        assert await read_marks(core) == {aid: f"{DAY}:s"}
        assert await _claim(core, aid, DAY, entry) == "unknown"  # never sent twice
        # And the tick sees the day as taken: no second entry today.
        assert (await tick(core)).queued == 0
    finally:
        await core.store.close()


async def test_a_later_local_day_makes_an_older_entry_stale(redis_url: str, tmp_path: Path) -> None:
    """Marked for 06-16 (the user moved east and was queued there) before the 06-15 entry was
    claimed: the older entry is acknowledged as stale, never sent."""
    clock = FixedClock(utc(2025, 6, 15, 0, 0))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        [aid] = await _subscribe(core, 1)
        clock.set(utc(2025, 6, 15, 0, 1))
        assert (await tick(core)).queued == 1
        r = core.store.redis
        await r.xgroup_create(K.broadcast_stream("tg"), GROUP, id="0")
        [[_, [(entry, _fields)]]] = await r.xreadgroup(GROUP, "c1", {K.broadcast_stream("tg"): ">"})
        # A tick for the next local day (the user's new zone is already there) marks it.
        await Subscriptions(core).subscribe(aid, "00:02", "Pacific/Kiritimati", platform="tg")
        profile = await core.profiles.get(aid)
        assert profile is not None
        await core.profiles.update(profile, tz="Pacific/Kiritimati")
        clock.set(utc(2025, 6, 15, 10, 2))  # 00:02 on 06-16 in UTC+14
        assert (await tick(core)).queued == 1
        assert await _claim(core, aid, DAY, entry) == "stale"
        assert (await read_marks(core))[aid] == "2025-06-16:q"
    finally:
        await core.store.close()


def test_fields_pack_account_ids_and_keep_other_ids_apart() -> None:
    aid = "a0123456789abcdef"
    assert mark_field(aid) == bytes.fromhex("0123456789abcdef") and field_uid(mark_field(aid)) == aid
    for other in ("tg:1", "tg:12345", "legacy-uid-x"):  # ids that are not account ids (old data, tests)
        assert field_uid(mark_field(other)) == other and len(mark_field(other)) != 8
