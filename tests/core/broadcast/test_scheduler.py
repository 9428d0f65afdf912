"""The APScheduler wiring: a minute cron tick on every instance, a first tick at start."""

from __future__ import annotations

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.core.broadcast import BroadcastOptions, BroadcastRunner
from tests.core.broadcast.conftest import FAST, Rig, utc

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_scheduled_ticks_deliver_without_manual_ticks(rig: Rig) -> None:
    inst = await rig.add_instance(options=BroadcastOptions(**{**_fast(), "tick_every_s": 0.1}))
    await rig.subscribe_many([(7, "00:01", "UTC")])
    await inst.runner.start()  # scheduler + workers, as bot.app.run does
    rig.clock.set(utc(2025, 6, 15, 0, 1))
    await rig.api.wait_for("sendMessage", 1, timeout=10, chat_id=7)
    marks = await rig.wait_settled([rig.uid(7)])
    assert marks[rig.uid(7)] == "2025-06-15:S"


async def test_default_trigger_is_every_minute_at_second_zero(rig: Rig) -> None:
    inst = await rig.add_instance()
    runner = BroadcastRunner(inst.core, options=BroadcastOptions())
    await runner.start(workers=False)
    try:
        job = runner._scheduler.get_job("broadcast_tick")
        assert isinstance(job.trigger, CronTrigger)
        assert job.max_instances == 1 and job.coalesce
        assert job.next_run_time.second == 0
    finally:
        await runner.stop()
    assert runner._scheduler is None


def _fast() -> dict[str, object]:
    return {name: getattr(FAST, name) for name in FAST.__dataclass_fields__}
