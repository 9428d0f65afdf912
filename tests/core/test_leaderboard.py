"""The pairing leaderboard: order, ties, own rank, privacy, the Monday (Asia/Seoul) roll-over."""

from __future__ import annotations

import re
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import FixedClock
from bot.core.invites import Invites
from bot.core.leaderboard import Leaderboard, pseudonym, week_id
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard_account as onboard

# Sunday 2025-01-12 23:59:00 Asia/Seoul (= 14:59 UTC); Monday 00:00 KST is 60 s later.
SUNDAY_2359_KST = datetime(2025, 1, 12, 14, 59, tzinfo=UTC).timestamp()


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(SUNDAY_2359_KST))
    yield c
    await c.store.close()


def lb(core: Core) -> Leaderboard:
    return core.leaderboard


async def pair(core: Core, inviter: str, friend: str) -> None:
    invites: Invites = core.invites
    for uid in (inviter, friend):
        if await core.profiles.get(uid) is None:
            await onboard(core, uid, bonus=False)
    inv = await invites.issue(inviter)
    assert (await invites.accept(friend, inv.token)).status == "paired"


def test_week_starts_monday_midnight_seoul() -> None:
    assert week_id(SUNDAY_2359_KST) == "2025-W02"
    assert week_id(SUNDAY_2359_KST + 59) == "2025-W02"
    assert week_id(SUNDAY_2359_KST + 60) == "2025-W03"  # Monday 00:00 KST, still Sunday in UTC
    assert week_id(datetime(2024, 12, 30, 0, 0, tzinfo=UTC).timestamp()) == "2025-W01"


async def test_order_ties_and_all_time(fcore: Core) -> None:
    for i in range(3):
        await pair(fcore, "tg:a", f"tg:fa{i}")
    await pair(fcore, "tg:b", "tg:fb0")
    for i in range(2):
        await pair(fcore, "tg:c", f"tg:fc{i}")
    await pair(fcore, "tg:d", "tg:fd0")
    board = lb(fcore)
    for period in ("week", "all"):
        rows = await board.top(period)  # type: ignore[arg-type]
        assert [(r.rank, r.score) for r in rows] == [(1, 3), (2, 2), (3, 1), (3, 1)]
        assert rows[0].member == board.member("tg:a") and rows[1].member == board.member("tg:c")
        assert {rows[2].member, rows[3].member} == {board.member("tg:b"), board.member("tg:d")}
    own = await board.standing("tg:d", "week")
    assert own is not None and own.rank == 3 and own.score == 1
    assert await board.standing("tg:fa0", "week") is None  # invitees are not ranked


async def test_monday_rollover_in_seoul(fcore: Core) -> None:
    await pair(fcore, "tg:a", "tg:f1")  # Sunday 23:59 KST
    assert [r.score for r in await lb(fcore).top("week")] == [1]
    fcore.clock.advance(60)  # type: ignore[attr-defined]  # Monday 00:00 KST
    assert await lb(fcore).top("week") == []
    assert await lb(fcore).standing("tg:a", "week") is None
    assert [r.score for r in await lb(fcore).top("all")] == [1]
    await pair(fcore, "tg:a", "tg:f2")
    assert [r.score for r in await lb(fcore).top("week")] == [1]
    assert [r.score for r in await lb(fcore).top("all")] == [2]
    assert await fcore.store.redis.exists(K.leaderboard_week("2025-W02"), K.leaderboard_week("2025-W03")) == 2
    assert 0 < await fcore.store.redis.ttl(K.leaderboard_week("2025-W03"))


async def test_own_rank_outside_the_top_ten(fcore: Core) -> None:
    board = lb(fcore)
    key = board.key("all")
    for i in range(15):
        await fcore.store.redis.zadd(key, {board.member(f"tg:{i}"): 100 - i})
    top = await board.top("all", 10)
    assert len(top) == 10 and top[-1].rank == 10
    me = await board.standing("tg:13", "all")
    assert me is not None and me.rank == 14 and me.score == 87


async def test_names_are_pseudonyms_not_ids(fcore: Core) -> None:
    board = lb(fcore)
    member = board.member("tg:123456789")
    assert "123456789" not in member and re.fullmatch(r"[0-9a-f]{16}", member)
    ko, en = pseudonym(member, "ko"), pseudonym(member, "en")
    assert ko.endswith("#" + member[:4]) and en.endswith("#" + member[:4])
    assert pseudonym(member, "ko") == ko  # stable
    assert board.member("tg:123456789") == member
    assert board.member("tg:123456780") != member


async def test_erase_removes_entries_from_every_board(fcore: Core) -> None:
    await pair(fcore, "tg:a", "tg:f1")
    fcore.clock.advance(7 * 86400)  # type: ignore[attr-defined]
    await pair(fcore, "tg:a", "tg:f2")
    await lb(fcore).erase("tg:a")
    assert await lb(fcore).top("all") == []
    assert await lb(fcore).top("week") == []
    assert await fcore.store.redis.zcard(K.leaderboard_week("2025-W02")) == 0


async def test_erase_finds_every_board_through_the_registry_without_scanning(fcore: Core) -> None:
    await pair(fcore, "tg:a", "tg:f1")  # week 2025-W02
    board = lb(fcore)
    member = board.member("tg:a")
    week_key = K.leaderboard_week("2025-W02")
    entries = set(await fcore.accounts.registry("tg:a"))
    # recorded before the increment, in the account's own registry
    assert {f"z|{K.leaderboard_all()}|{member}", f"z|{week_key}|{member}"} <= entries
    # long after: the old week is outside the weeks erase would try by date; the registry has it
    fcore.clock.advance(120 * 86400)  # type: ignore[attr-defined]
    assert await fcore.store.redis.zscore(week_key, member) == 1  # (the server's TTL is real time)
    await fcore.store.redis.config_resetstat()
    await board.erase("tg:a")
    stats = await fcore.store.redis.info("commandstats")
    assert not any(name.startswith(("cmdstat_scan", "cmdstat_keys")) for name in stats)
    assert await fcore.store.redis.zscore(week_key, member) is None
    assert await board.top("all") == []
    assert not [e for e in await fcore.accounts.registry("tg:a") if member in e]


def test_week_id_remembered_per_quarter_hour_matches_the_zone_everywhere() -> None:
    """Around every Asia/Seoul offset change since 1910 (+8:30 in 1954–61, summer time in
    1987–88) and today, the remembered week equals the one computed from the zone."""
    from bot.core.leaderboard import _week_of

    starts = [-1_893_456_000, -504_921_600, 536_457_600, 1_735_000_000]  # 1910, 1954, 1987, 2024
    for start in starts:
        for ts in range(start, start + 3 * 365 * 86400, 86400 * 3 + 449):  # drifts through every time of day
            for edge in (ts, ts - 1, ts + 899):
                assert week_id(edge) == _week_of(edge)
    assert week_id(-2_000_000_000) == _week_of(-2_000_000_000)  # before 1910: computed, not remembered
