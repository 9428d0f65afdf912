"""Alerts: pending period, posted once with Ack/Silence, re-notify, ack, resolve; one leader;
local alerting while Redis is down (real Redis, FixedClock for the periods)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.clock import FixedClock
from bot.core.ops.alerts import Evaluator
from bot.core.router import Ctx
from bot.core.service import Core
from tests.core.ops.conftest import ADMIN, GROUP, ops_core, tg_event
from tests.support.factory import config_with
from tests.support.platform import RecordingPlatform

pytestmark = pytest.mark.both_backends

T0 = 1_767_571_200  # 2026-01-05 00:00 UTC (a Monday, 09:00 in Seoul)
TARGET = f"chat:{GROUP}"


def about(tg: RecordingPlatform, alert: str) -> list[str]:
    """Texts posted to the ops group about one alert (a loaded machine may add latency ones)."""
    return [r.text for r in tg.to(TARGET) if f"({alert})" in r.text]


def failing_core(redis_url: str, tmp_path: Path, clock: FixedClock) -> Core:
    core = ops_core(redis_url, tmp_path, clock=clock)

    @core.router.command("explode", needs_profile=False)
    async def explode(ctx: Ctx) -> None:  # a handler that fails: INTERNAL_ERROR to the user
        raise RuntimeError("boom")

    @core.router.command("slow", needs_profile=False)
    async def slow(ctx: Ctx) -> list[object]:  # a handler slower than the 1 s threshold
        await asyncio.sleep(1.05)
        return []

    return core


async def burst(core: Core, command: str = "explode", n: int = 25) -> None:
    """``n`` requests of ``command``: failing ones one after another, slow ones concurrently."""
    events = [tg_event(f"tg:{7000 + i}", f"/{command}", chat=str(7000 + i)) for i in range(n)]
    if command == "slow":
        await asyncio.gather(*(core.router.handle(e) for e in events))
    else:
        for e in events:
            await core.router.handle(e)
    assert core.ops is not None
    await core.ops.shared.flush()


async def test_error_rate_fires_after_pending_renotifies_acks_and_resolves(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    core = failing_core(redis_url, tmp_path, clock)
    tg = RecordingPlatform.install(core)
    ev = Evaluator(core, "p1")
    cfg = core.settings.product.alerts

    await burst(core)
    assert await ev.round() == []  # pending, nothing posted
    clock.advance(cfg.pending_seconds)
    await burst(core)
    assert ("error_rate", "fire") in await ev.round()
    assert len(about(tg, "error_rate")) == 1
    posted = [r for r in tg.to(TARGET) if "(error_rate)" in r.text]
    commands = [b.command for b in posted[0].all_buttons()]
    assert commands[0] == "/ops ack error_rate"
    assert commands[1:] == [f"/ops silence error_rate {d} button" for d in cfg.silence_presets]
    clock.advance(10)
    await burst(core)
    assert ("error_rate", "fire") not in await ev.round()
    assert len(about(tg, "error_rate")) == 1  # posted once

    clock.advance(cfg.renotify_seconds)
    await burst(core)
    assert ("error_rate", "renotify") in await ev.round()
    assert len(about(tg, "error_rate")) == 2
    ack = await core.router.handle(tg_event(ADMIN, "/ops ack error_rate"))
    assert ack[0].error is None
    clock.advance(cfg.renotify_seconds)
    await burst(core)
    assert ("error_rate", "renotify") not in await ev.round()
    assert len(about(tg, "error_rate")) == 2  # acknowledged: no more re-notifications

    clock.advance(cfg.window_seconds + 60)  # the failures leave the window
    assert ("error_rate", "resolve") not in await ev.round()  # cleared, waiting out the pending period
    clock.advance(cfg.pending_seconds)
    assert ("error_rate", "resolve") in await ev.round()
    resolved = [r for r in tg.to(TARGET) if "(error_rate)" in r.text][-1]
    assert "✅" in resolved.text and resolved.all_buttons() == []

    assert core.ops is not None
    audit = [(e.command, e.args, e.result) for e in reversed(await core.ops.audit.recent(50))
             if e.command in ("alert", "ack") and e.args == "error_rate"]
    assert audit == [("alert", "error_rate", "fire"), ("alert", "error_rate", "renotify"),
                     ("ack", "error_rate", "acked"), ("alert", "error_rate", "resolve")]


async def test_slow_requests_fire_latency_and_only_the_leader_posts(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    one = failing_core(redis_url, tmp_path / "a", clock)
    two = failing_core(redis_url, tmp_path / "b", clock)
    tg1, tg2 = RecordingPlatform.install(one), RecordingPlatform.install(two)
    ev1, ev2 = Evaluator(one, "p1"), Evaluator(two, "p2")
    await burst(one, "slow", 12)
    await burst(two, "slow", 12)
    await ev1.round()
    await ev2.round()
    clock.advance(one.settings.product.alerts.pending_seconds)
    fired = (await ev1.round()) + (await ev2.round())
    assert fired.count(("latency_p95", "fire")) == 1
    assert len(about(tg1, "latency_p95")) + len(about(tg2, "latency_p95")) == 1
    assert ev1.leader and not ev2.leader


async def test_silence_keeps_an_alert_quiet(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    core = failing_core(redis_url, tmp_path, clock)
    tg = RecordingPlatform.install(core)
    ev = Evaluator(core, "p1")
    replies = await core.router.handle(tg_event(ADMIN, "/ops silence error_rate 2h deploy in progress"))
    assert replies[0].error is None
    await burst(core)
    await ev.round()
    clock.advance(core.settings.product.alerts.pending_seconds)
    await burst(core)
    assert ("error_rate", "fire_silent") in await ev.round()
    assert about(tg, "error_rate") == []
    text = (await core.router.handle(tg_event(ADMIN, "/ops alerts")))[0].text
    assert "error_rate: firing" in text and "deploy in progress" in text


async def test_redis_down_each_process_alerts_on_its_own_once(tmp_path: Path) -> None:
    cfg = config_with(tmp_path, alerts={"pending_seconds": 0.0})
    core = ops_core("redis://127.0.0.1:1", tmp_path, CONFIG_FILE=str(cfg))  # nothing listens there
    tg = RecordingPlatform.install(core)
    ev = Evaluator(core, "p1")
    assert await ev.round() == [("redis_down", "fire")]
    assert await ev.round() == []  # in-memory dedup
    posted = tg.to(TARGET)
    assert len(posted) == 1 and "redis_down" in posted[0].text
