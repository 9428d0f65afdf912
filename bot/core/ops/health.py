"""Dependency health for ``/ops health``: Redis, every platform, the AI providers, the
scheduler, with status and latency; this process's uptime and the version.

Platforms are probed where they run. Each bot process publishes a heartbeat to Redis
(``K.ops_procs``: version, start time, its platforms' last probe and whether it runs the
scheduler; ``publish_heartbeat``), so ``/ops health`` reports the same facts from any
surface: a platform probed here is probed now, one running only in another process is
reported from that process's last heartbeat (with its age). Redis down: Redis is reported
down and the platforms probed here still are; nothing else is known.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.core.store import K, REDIS_ERRORS

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Dependency", "HealthReport", "collect_health", "publish_heartbeat", "probe_platforms", "PROCESS_ID"]

#: This process's id in heartbeats (host, pid and a random part: pids repeat across hosts).
PROCESS_ID = f"{socket.gethostname()[:32]}:{os.getpid()}:{os.urandom(3).hex()}"
PROBE_TIMEOUT_S = 5.0
_PROBE_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, TimeoutError)
PLATFORM_NAMES = {"tg": "telegram", "dc": "discord", "slack": "slack", "cli": "console"}


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str
    status: str  # "ok" | "down" | "degraded" | "open" | "off" | "paused" | "unknown"
    ms: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport:
    dependencies: list[Dependency]
    uptime_s: float
    version: str
    processes: int

    @property
    def ok(self) -> bool:
        return all(d.status in ("ok", "off", "paused") for d in self.dependencies)

    def facts(self) -> dict[str, str]:
        """Dependency -> status (what every surface must agree on)."""
        return {d.name: d.status for d in self.dependencies}


async def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = await asyncio.wait_for(fn(), PROBE_TIMEOUT_S)
    return out, round((time.perf_counter() - started) * 1000, 1)


async def probe_platforms(core: Core) -> dict[str, dict[str, Any]]:
    """Probe every platform running in this process: name -> {status, ms[, detail]}."""
    out: dict[str, dict[str, Any]] = {}
    for name, link in sorted(core.platforms.items()):
        if link.health is None:
            out[name] = {"status": "ok", "ms": None}
            continue
        try:
            res, ms = await _timed(link.health)
            out[name] = {"status": str(res.get("status", "unknown")), "ms": ms}
        except Exception as exc:  # a probe may raise anything (network, timeout)
            out[name] = {"status": "down", "ms": None, "detail": type(exc).__name__}
    return out


async def publish_heartbeat(core: Core, *, scheduler: bool = False) -> None:
    """Write this process's heartbeat (and drop ones silent for 10 heartbeats). Raises Redis errors."""
    period = core.settings.product.ops.heartbeat_seconds
    now_ms = int(time.time() * 1000)
    beat = {"version": __version__, "pid": os.getpid(), "host": socket.gethostname()[:64],
            "started": int(core.started_at * 1000), "seen": now_ms, "scheduler": scheduler,
            "platforms": await probe_platforms(core)}
    r = core.store.redis
    await r.hset(K.ops_procs(), PROCESS_ID, json.dumps(beat, separators=(",", ":")))
    stale = [pid for pid, raw in (await r.hgetall(K.ops_procs())).items()
             if _seen(raw) < now_ms - 10 * period * 1000]
    if stale:
        await r.hdel(K.ops_procs(), *stale)


def _seen(raw: str) -> int:
    try:
        return int(json.loads(raw).get("seen", 0))
    except (ValueError, AttributeError):
        return 0


async def _heartbeats(core: Core) -> dict[str, dict[str, Any]]:
    period = core.settings.product.ops.heartbeat_seconds
    now_ms = int(time.time() * 1000)
    out: dict[str, dict[str, Any]] = {}
    for pid, raw in (await core.store.redis.hgetall(K.ops_procs())).items():
        try:
            beat = json.loads(raw)
        except ValueError:
            continue
        if int(beat.get("seen", 0)) >= now_ms - 3 * period * 1000:
            out[pid] = beat
    return out


async def collect_health(core: Core) -> HealthReport:
    """Probe every dependency (see the module docstring). Never raises for a dependency down."""
    deps: list[Dependency] = []
    redis_up = True
    try:
        _, ms = await _timed(core.store.redis.ping)
        deps.append(Dependency("redis", "ok", ms))
    except _PROBE_ERRORS as exc:
        redis_up = False
        deps.append(Dependency("redis", "down", None, type(exc).__name__))
    beats: dict[str, dict[str, Any]] = {}
    if redis_up:
        try:
            beats = await _heartbeats(core)
        except REDIS_ERRORS:
            beats = {}
    local = await probe_platforms(core)
    remote: dict[str, tuple[dict[str, Any], float]] = {}
    now_ms = time.time() * 1000
    for beat in beats.values():
        for name, st in (beat.get("platforms") or {}).items():
            age = (now_ms - float(beat.get("seen", 0))) / 1000
            if name not in remote or age < remote[name][1]:
                remote[name] = (st, age)
    for name in sorted(set(local) | set(remote)):
        label = PLATFORM_NAMES.get(name, name)
        if name in local:
            st = local[name]
            deps.append(Dependency(label, st["status"], st.get("ms"), st.get("detail", "")))
        else:
            st, age = remote[name]
            deps.append(Dependency(label, str(st.get("status", "unknown")), st.get("ms"), f"heartbeat {age:.0f}s ago"))
    deps.extend(await _ai(core, redis_up))
    deps.append(await _scheduler(core, redis_up, beats))
    # The service's uptime: since the oldest live bot process started (this process's own
    # uptime when none publishes a heartbeat, e.g. a terminal with no bot running).
    starts = [int(b.get("started", 0)) for b in beats.values() if b.get("started")]
    uptime = (now_ms - min(starts)) / 1000 if starts else core.uptime
    return HealthReport(deps, uptime, __version__, len(beats))


async def _ai(core: Core, redis_up: bool) -> list[Dependency]:
    from bot.core.ai.chain import get_chain

    if not redis_up:
        return [Dependency("ai", "unknown", None, "redis down")]
    chain = get_chain(core)
    try:
        status, ms = await _timed(chain.status)
    except Exception as exc:
        return [Dependency("ai", "unknown", None, type(exc).__name__)]
    out: list[Dependency] = []
    for name, st in sorted(status.items()):
        if not st.get("configured"):
            out.append(Dependency(name, "off", ms, "no API key"))
        elif st.get("state") == "open":
            out.append(Dependency(name, "open", ms, str(st.get("reason") or "")))
        else:
            out.append(Dependency(name, "ok", ms, str(st.get("state") or "")))
    return out


async def _scheduler(core: Core, redis_up: bool, beats: dict[str, dict[str, Any]]) -> Dependency:
    if not redis_up:
        return Dependency("scheduler", "unknown", None, "redis down")
    started = time.perf_counter()
    try:
        paused = await core.store.redis.get(K.broadcast_paused())
    except REDIS_ERRORS as exc:
        return Dependency("scheduler", "unknown", None, type(exc).__name__)
    ms = round((time.perf_counter() - started) * 1000, 1)
    running = sum(1 for b in beats.values() if b.get("scheduler"))
    if paused is not None:
        return Dependency("scheduler", "paused", ms, str(paused))
    if running == 0:
        return Dependency("scheduler", "down", ms, "no process runs the broadcast")
    return Dependency("scheduler", "ok", ms, f"{running} process(es)")
