"""Time math: local HH:MM -> UTC instants, DST, catch-up decisions (pure, no Redis)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.broadcast import due_instant, next_due, parse_hhmm, plan
from tests.core.broadcast.conftest import utc


@pytest.mark.parametrize("text, expected", [
    ("08:00", "08:00"), ("8:05", "08:05"), ("23:59", "23:59"), ("00:00", "00:00"),
    (" 7:30 ", "07:30"), ("7시30분", "07:30"), ("7시 5분", "07:05"), ("8시", "08:00"), ("08：30", "08:30"),
    ("\u200b08:30\u200b", "08:30"),
    # the colon is required: bare digits are ambiguous ("240" = 02:40? 24:0?)
    ("0805", None), ("240", None), ("0240", None), ("7:5", None),
    ("24:00", None), ("25:00", None), ("8:60", None), ("8", None), ("", None), ("ab:cd", None),
    ("08:00:00", None), ("-1:00", None),
])
def test_parse_hhmm(text: str, expected: str | None) -> None:
    assert parse_hhmm(text) == expected


def test_due_instant_in_zones() -> None:
    assert due_instant(date(2025, 6, 15), "08:00", "Asia/Seoul") == utc(2025, 6, 14, 23, 0)
    assert due_instant(date(2025, 6, 15), "08:00", "UTC") == utc(2025, 6, 15, 8, 0)
    assert due_instant(date(2025, 6, 15), "05:45", "Asia/Kathmandu") == utc(2025, 6, 15, 0, 0)  # +05:45


def test_dst_gap_and_fold() -> None:
    ny = "America/New_York"
    # 2025-03-09: 02:00 -> 03:00. 02:30 does not exist; it is sent once, at 03:30 EDT (07:30Z).
    assert due_instant(date(2025, 3, 9), "02:30", ny) == utc(2025, 3, 9, 7, 30)
    # The day before and after: EST (-5) then EDT (-4).
    assert due_instant(date(2025, 3, 8), "08:00", ny) == utc(2025, 3, 8, 13, 0)
    assert due_instant(date(2025, 3, 10), "08:00", ny) == utc(2025, 3, 10, 12, 0)
    # 2025-11-02: 01:30 happens twice; the first occurrence (EDT, 05:30Z) is used.
    assert due_instant(date(2025, 11, 2), "01:30", ny) == utc(2025, 11, 2, 5, 30)
    # Re-indexing across the change keeps the local wall time.
    due, day = next_due("08:00", ny, utc(2025, 3, 8, 13, 0))
    assert (due, day) == (utc(2025, 3, 9, 12, 0), date(2025, 3, 9))


def test_next_due_is_strictly_after() -> None:
    now = utc(2025, 6, 14, 23, 0)  # 08:00 in Seoul exactly
    assert next_due("08:00", "Asia/Seoul", now - 1) == (now, date(2025, 6, 15))
    assert next_due("08:00", "Asia/Seoul", now) == (now + 86400, date(2025, 6, 16))


def test_plan_on_time_catch_up_and_never_yesterday() -> None:
    tz = "Asia/Seoul"
    due = utc(2025, 6, 14, 23, 0)  # 2025-06-15 08:00 KST
    on_time = plan("08:00", tz, due)
    assert on_time.send and on_time.day == date(2025, 6, 15) and on_time.next_due == due + 86400
    late = plan("08:00", tz, due + 10 * 3600)  # 18:00 the same local day: catch up
    assert late.send and late.day == date(2025, 6, 15) and late.next_due == due + 86400
    next_day = plan("08:00", tz, due + 20 * 3600)  # 04:00 the next local day: nothing, re-index
    assert not next_day.send and next_day.next_due == due + 86400


def test_honolulu_and_kiritimati_same_utc_instant_different_days() -> None:
    # 11:00Z on 2025-06-15 is 01:00 on the 15th in Honolulu (-10) and 01:00 on the 16th in Kiritimati (+14).
    now = utc(2025, 6, 15, 11, 0)
    hnl, kir = plan("01:00", "Pacific/Honolulu", now), plan("01:00", "Pacific/Kiritimati", now)
    assert hnl.send and hnl.day == date(2025, 6, 15)
    assert kir.send and kir.day == date(2025, 6, 16)
    assert hnl.next_due == kir.next_due == now + 86400
