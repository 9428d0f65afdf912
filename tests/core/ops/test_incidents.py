"""Incidents: response times per severity (P3: next business day in Seoul), timeline, and a
reminder in the ops channel when nobody acknowledges in time (FixedClock, real Redis)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FixedClock
from bot.core.ops.alerts import Evaluator
from bot.core.ops.incidents import deadline_ms
from bot.core.settings import OpsConfig
from tests.core.ops.conftest import ADMIN, GROUP, OTHER_ADMIN, command_of, ops_core, tg_event
from tests.support.platform import RecordingPlatform

pytestmark = pytest.mark.both_backends

SEOUL = ZoneInfo("Asia/Seoul")


def ms(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=SEOUL).timestamp() * 1000)


def test_response_times_follow_the_runbook() -> None:
    cfg = OpsConfig(holidays=("2026-02-16", "2026-02-17", "2026-02-18"))
    mon = ms(2026, 1, 5, 14)
    assert deadline_ms(cfg, "P0", mon) == mon + 15 * 60_000
    assert deadline_ms(cfg, "P1", mon) == mon + 60 * 60_000
    assert deadline_ms(cfg, "P2", mon) == mon + 4 * 60 * 60_000
    assert deadline_ms(cfg, "P3", mon) == ms(2026, 1, 6, 9)  # Monday afternoon -> Tuesday 09:00
    assert deadline_ms(cfg, "P3", ms(2026, 1, 9, 15)) == ms(2026, 1, 12, 9)  # Friday -> Monday
    assert deadline_ms(cfg, "P3", ms(2026, 1, 10, 11)) == ms(2026, 1, 12, 9)  # Saturday -> Monday
    assert deadline_ms(cfg, "P3", ms(2026, 1, 5, 7)) == ms(2026, 1, 6, 9)  # early Monday -> Tuesday
    # 설날 (Feb 16-18 2026, Mon-Wed): Friday the 13th -> Thursday the 19th.
    assert deadline_ms(cfg, "P3", ms(2026, 2, 13, 10)) == ms(2026, 2, 19, 9)


async def test_unacknowledged_incident_reminds_after_its_deadline(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(ms(2026, 1, 5, 10) / 1000)
    core = ops_core(redis_url, tmp_path, clock=clock)
    tg = RecordingPlatform.install(core)
    ev = Evaluator(core, "p1")
    declared = await core.router.handle(tg_event(ADMIN, "/ops incident declare p1 결제 실패 급증"))
    assert declared[0].error is None and "#1" in declared[0].text and "[P1]" in declared[0].text
    ack_command = command_of(declared[0])
    assert ack_command == "incident ack 1"

    clock.advance(59 * 60)
    assert await ev.round() == []
    clock.advance(2 * 60)  # 61 min: past the P1 response time, nobody acknowledged
    assert await ev.round() == [("incident:1", "remind")]
    clock.advance(60)
    assert await ev.round() == []  # once per interval
    reminders = [r for r in tg.to(f"chat:{GROUP}") if "#1" in r.text]
    assert len(reminders) == 1 and "⏰" in reminders[0].text
    assert reminders[0].all_buttons()[0].command == "/ops incident ack 1"
    clock.advance(core.settings.product.ops.remind_seconds)
    assert await ev.round() == [("incident:1", "remind")]

    acked = await core.router.handle(tg_event(OTHER_ADMIN, f"/ops {ack_command}"))
    assert acked[0].error is None
    again = await core.router.handle(tg_event(ADMIN, f"/ops {ack_command}"))
    assert "acked" in again[0].text  # nothing changed
    clock.advance(core.settings.product.ops.remind_seconds * 3)
    assert await ev.round() == []
    await core.router.handle(tg_event(ADMIN, "/ops incident note 1 PG사 장애 확인, 우회 중"))
    await core.router.handle(tg_event(ADMIN, "/ops incident resolve 1 복구 완료"))
    status = (await core.router.handle(tg_event(ADMIN, "/ops incident status 1")))[0].text
    whats = [line.split()[3] for line in status.splitlines()[1:]]
    assert whats == ["declare", "remind", "remind", "ack", "note", "resolve"]
    assert "해결됨" in status
    assert "열린 인시던트가 없어요" in (await core.router.handle(tg_event(ADMIN, "/ops incident list")))[0].text
    assert core.ops is not None
    kinds = [(e.command, e.result) for e in reversed(await core.ops.audit.recent(20)) if e.command == "incident"]
    assert kinds == [("incident", "declared"), ("incident", "reminded"), ("incident", "reminded"),
                     ("incident", "ack"), ("incident", "acked"), ("incident", "note"), ("incident", "resolve"),
                     ("incident", "ok"), ("incident", "ok")]  # status, list


async def test_bad_incident_input_changes_nothing(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    for text in ("/ops incident declare P7 broken", "/ops incident declare P1", "/ops incident ack x",
                 "/ops incident ack 99", "/ops incident note 1"):
        replies = await core.router.handle(tg_event(ADMIN, text))
        assert replies[0].error is not None, text
    assert await core.store.redis.get("ops:{ops}:incident:seq") is None
