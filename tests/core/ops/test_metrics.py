"""Cross-process metrics: figures equal the sum over processes; a flush applies once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.clock import FixedClock
from bot.core.ops.metrics import percentile, read_window
from bot.core.service import Core
from tests.core.ops.conftest import ADMIN, ops_core, tg_event

pytestmark = pytest.mark.both_backends

T0 = 1_767_571_200


def prometheus_commands(core: Core) -> float:
    return sum(s.value for fam in core.metrics.registry.collect() for s in fam.samples
               if s.name == "soul_lab_commands_total")


async def test_figures_are_the_sum_over_two_processes(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    one = ops_core(redis_url, tmp_path / "a", clock=clock)
    two = ops_core(redis_url, tmp_path / "b", clock=clock)
    for i in range(7):
        await one.router.handle(tg_event(f"tg:{100 + i}", "/help", chat=str(100 + i)))
    for i in range(5):
        await two.router.handle(tg_event(f"tg:{200 + i}", "/help", chat=str(200 + i)))
    await two.router.handle(tg_event("tg:300", "/nosuchcommand", chat="300"))
    assert one.ops is not None and two.ops is not None
    assert await one.ops.shared.flush() and await two.ops.shared.flush()
    assert not await one.ops.shared.flush()  # nothing new
    fig = await read_window(one, 300)
    assert fig.requests == 13 == prometheus_commands(one) + prometheus_commands(two)
    assert sum(fig.buckets) == 13
    replies = await one.router.handle(tg_event(ADMIN, "/ops metrics"))
    assert "요청 13" in replies[0].text
    assert replies[0].image is not None and replies[0].image.png.startswith(b"\x89PNG")
    # The /ops metrics command itself is counted once it is flushed.
    await one.ops.shared.flush()
    assert (await read_window(two, 300)).requests == 14


async def test_a_replayed_flush_adds_nothing(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path, clock=FixedClock(T0))
    key = f"ops:metrics:{T0 // 60}"
    script = core.store.scripts["ops_metrics_flush"]
    assert await script(keys=[key], args=["p1", 1, 3600, "n", 5]) == 1
    assert await script(keys=[key], args=["p1", 1, 3600, "n", 5]) == 0  # a retry after a lost reply
    assert await script(keys=[key], args=["p2", 1, 3600, "n", 2]) == 1  # another process
    assert (await read_window(core, 60)).requests == 7


def test_percentiles_from_histogram_buckets() -> None:
    # 100 requests: 90 under 5 ms, 10 between 1 and 2.5 s.
    buckets = [90, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0]
    assert percentile(buckets, 0.5) < 5
    assert 1000 < percentile(buckets, 0.95) <= 2500
    assert percentile([0] * 13, 0.95) == 0.0
