"""Alerts on the runbook's thresholds, posted to every ops channel.

Conditions (``[alerts]`` in config; judged from the cross-process metrics, ``bot.core.ops.metrics``):

- ``latency_p95``: response time p95 > ``response_time_ms`` over ``window_seconds``, with at
  least ``min_requests`` requests;
- ``error_rate``: server errors / requests > ``error_rate`` over the same window and minimum;
- ``redis_down``: Redis unreachable (judged by each process on its own, below);
- ``ai_fallback``: an AI provider's breaker is open, or at least ``ai_fallback_min`` answers
  in the window were the static fallback;
- ``broadcast_behind``: the broadcast is not paused and a subscriber's send time passed more
  than ``broadcast_behind_minutes`` ago without being queued;
- ``ai_spend_cap``: the AI spend cap of the UTC day is reached (readings use the static text).

Every process runs ``Evaluator.round`` every ``eval_seconds``; only the holder of a Redis lease
(``K.ops_leader``, ``lease_seconds``) evaluates and posts. The dedup key of an alert is its
name: its state lives in ``K.ops_alert(name)`` and moves in one script per evaluation
(``ops_alert_eval.lua``): a condition must hold for ``pending_seconds`` before it fires; a
firing alert is posted once to every ``OPS_CHANNELS`` chat with Ack and Silence buttons
(preset durations), posted again every ``renotify_seconds`` until acknowledged or silenced,
and a resolved message is posted once it has cleared for ``pending_seconds``. The script
decides atomically, so two evaluators (a lease changing hands) never post the same change
twice; a crash between the script and the post loses that one post (the re-notification
follows). Every state change is appended to the audit log.

While Redis itself is down there is no lease and no shared state: each process judges
``redis_down`` on its own, with the same pending period and re-notify interval kept in
memory (dedup per process), posts through its own senders, and posts the resolution when
Redis answers again. A process with no sender for any ops channel never takes the lease.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.errors import ServiceUnavailable
from bot.core.i18n import t
from bot.core.logs import log_event
from bot.core.ops.auth import ops_targets
from bot.core.ops.metrics import read_window
from bot.core.reply import Button, Reply
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

_DOWN: tuple[type[BaseException], ...] = (ServiceUnavailable, *REDIS_ERRORS)
__all__ = ["ALERTS", "Condition", "Evaluator", "post_to_ops", "alert_states", "mark_alert"]

ALERTS = ("latency_p95", "error_rate", "redis_down", "ai_fallback", "broadcast_behind", "ai_spend_cap")
#: Posts to ops channels are written in Korean (operators read Korean first).
OPS_LANG = "ko"


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    active: bool
    value: str  # what was measured, for the post ("p95 1830ms over 212 requests")


async def post_to_ops(core: Core, reply: Reply) -> int:
    """Send ``reply`` to every ops channel this process has a sender for; returns how many
    accepted it. Failures are logged, never raised."""
    sent = 0
    for platform, target in ops_targets(core.settings):
        if platform not in core.senders:
            continue
        try:
            await core.send(platform, target, reply)
            sent += 1
        except Exception as exc:  # a platform down must not stop the others
            log_event("ops_post_failed", level=logging.WARNING, platform=platform, error=type(exc).__name__)
    return sent


def alert_buttons(core: Core, name: str, lang: str = OPS_LANG) -> list[list[Button]]:
    presets = core.settings.product.alerts.silence_presets
    return [[Button(t(lang, "ops.button_ack"), f"/ops ack {name}")],
            [Button(t(lang, "ops.button_silence", duration=d), f"/ops silence {name} {d} button") for d in presets]]


async def conditions(core: Core) -> list[Condition]:
    """Every shared condition, measured now. Raises ``ServiceUnavailable`` when Redis is down."""
    from bot.core.ai.chain import get_chain

    cfg = core.settings.product.alerts
    fig = await read_window(core, cfg.window_seconds)
    enough = fig.requests >= cfg.min_requests
    out = [
        Condition("latency_p95", enough and fig.p95_ms > cfg.response_time_ms,
                  f"p95 {fig.p95_ms:.0f}ms / {fig.requests} req"),
        Condition("error_rate", enough and fig.error_rate > cfg.error_rate,
                  f"{fig.error_rate * 100:.1f}% ({fig.server_errors}/{fig.requests})"),
    ]
    chain = get_chain(core)
    status = await chain.status()
    open_ = [n for n, st in status.items() if st.get("configured") and st.get("state") == "open"]
    out.append(Condition("ai_fallback", bool(open_) or fig.ai_fallback >= cfg.ai_fallback_min,
                         f"open: {','.join(open_) or '-'}; fallback {fig.ai_fallback}/{fig.ai}"))
    r = core.store.redis
    async with redis_guard("ops.alerts.broadcast"):
        paused = await r.exists(K.broadcast_paused())
        oldest = await r.zrange(K.broadcast_due(), 0, 0, withscores=True)
    late_s = core.clock.now() - float(oldest[0][1]) if oldest else 0.0
    out.append(Condition("broadcast_behind", not paused and late_s > cfg.broadcast_behind_minutes * 60,
                         f"oldest due {late_s / 60:.0f} min ago"))
    capped = await chain.cap_reached()
    out.append(Condition("ai_spend_cap", capped, f"${await chain.spend_today():.2f} / "
                                                 f"${chain.config.daily_spend_cap_usd:.2f}"))
    return out


async def alert_states(core: Core) -> dict[str, dict[str, str]]:
    async with redis_guard("ops.alerts"):
        names = sorted(await core.store.redis.smembers(K.ops_alerts()))
        async with core.store.redis.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(K.ops_alert(n))
            rows = await pipe.execute()
    return dict(zip(names, rows, strict=True))


async def mark_alert(core: Core, name: str, action: str, who: str, until_ms: int = 0, reason: str = "") -> str:
    async with redis_guard("ops.alerts"):
        return str(await core.store.scripts["ops_alert_mark"](
            keys=[K.ops_alert(name), K.ops_alerts()],
            args=[action, who, core.clock.now_ms(), until_ms, reason[:200], name]))


@dataclass(slots=True)
class _Local:
    """In-memory state of one alert while Redis is down (per process)."""

    since: float = 0.0
    firing: bool = False
    notified: float = 0.0


class Evaluator:
    def __init__(self, core: Core, owner: str) -> None:
        self.core = core
        self.owner = owner
        self.leader = False
        self._local: dict[str, _Local] = {}

    def _eligible(self) -> bool:
        return any(p in self.core.senders for p, _ in ops_targets(self.core.settings))

    async def _lead(self) -> bool:
        lease_ms = int(self.core.settings.product.alerts.lease_seconds * 1000)
        r = self.core.store.redis
        if self.leader and int(await self.core.store.scripts["lease_renew"](
                keys=[K.ops_leader()], args=[self.owner, lease_ms])):
            return True
        self.leader = bool(await r.set(K.ops_leader(), self.owner, nx=True, px=lease_ms))
        return self.leader

    async def release(self) -> None:
        if self.leader:
            try:
                await self.core.store.scripts["lease_release"](keys=[K.ops_leader()], args=[self.owner])
            except REDIS_ERRORS:
                pass
            self.leader = False

    async def round(self) -> list[tuple[str, str]]:
        """One evaluation; returns the (alert, action) pairs posted or recorded. Never raises
        for Redis being down (that is the ``redis_down`` alert)."""
        if not self._eligible():
            return []
        try:
            if not await self._lead():
                await self._local_step("redis_down", False, "")
                return []
            conds = await conditions(self.core)
        except _DOWN as exc:
            self.leader = False
            return await self._local_step("redis_down", True, type(exc).__name__)
        done = await self._local_step("redis_down", False, "")
        for cond in conds:
            action = await self._shared_step(cond)
            if action != "none":
                done.append((cond.name, action))
        done += await self._incident_reminders()
        return done

    async def _shared_step(self, cond: Condition) -> str:
        cfg = self.core.settings.product.alerts
        try:
            async with redis_guard("ops.alerts.eval"):
                action = str(await self.core.store.scripts["ops_alert_eval"](
                    keys=[K.ops_alert(cond.name), K.ops_alerts()],
                    args=[self.core.clock.now_ms(), 1 if cond.active else 0, int(cfg.pending_seconds * 1000),
                          int(cfg.renotify_seconds * 1000), cond.value[:200], cond.name]))
        except ServiceUnavailable:
            return "none"
        if action == "none":
            return action
        if action in ("fire", "renotify", "resolve"):
            await self._post(cond.name, action, cond.value)
        ops = self.core.ops
        if ops is not None:
            await ops.record(who="bot", command="alert", args=cond.name, result=action, detail=cond.value[:200])
        log_event("ops_alert", alert=cond.name, action=action, value=cond.value[:200])
        return action

    async def _post(self, name: str, action: str, value: str) -> None:
        key = {"fire": "ops.alert_fire", "renotify": "ops.alert_renotify", "resolve": "ops.alert_resolved"}[action]
        text = t(OPS_LANG, key, name=t(OPS_LANG, f"ops.alert_name_{name}"), alert=name, value=value)
        buttons = alert_buttons(self.core, name) if action != "resolve" else []
        await post_to_ops(self.core, Reply(text, buttons=buttons))

    async def _local_step(self, name: str, active: bool, value: str) -> list[tuple[str, str]]:
        """The per-process state machine used while Redis is down (in-memory dedup)."""
        cfg = self.core.settings.product.alerts
        now = time.monotonic()
        st = self._local.setdefault(name, _Local())
        action = ""
        if active:
            if st.since == 0.0:
                st.since = now
            if not st.firing and now - st.since >= cfg.pending_seconds:
                st.firing, st.notified, action = True, now, "fire"
            elif st.firing and now - st.notified >= cfg.renotify_seconds:
                st.notified, action = now, "renotify"
        else:
            if st.firing:
                action = "resolve"
            st.since, st.firing = 0.0, False
        if not action:
            return []
        log_event("ops_alert", level=logging.ERROR if action != "resolve" else logging.INFO, alert=name,
                  action=action, local=True)
        await self._post(name, action, value or "-")
        if action == "resolve" and self.core.ops is not None:  # Redis answers again: on record
            await self.core.ops.record(who="bot", command="alert", args=name, result="resolve", detail="local")
        return [(name, action)]

    async def _incident_reminders(self) -> list[tuple[str, str]]:
        from bot.core.ops.incidents import Incidents

        incidents = Incidents(self.core)
        done: list[tuple[str, str]] = []
        now = self.core.clock.now_ms()
        try:
            for inc in await incidents.open():
                if inc.state != "open" or inc.deadline > now:
                    continue
                if await incidents.remind(inc.number) != "ok":
                    continue
                text = t(OPS_LANG, "ops.incident_reminder", n=inc.number, sev=inc.severity, title=inc.title,
                         minutes=(now - inc.deadline) // 60000)
                await post_to_ops(self.core, Reply(text, buttons=[[Button(t(OPS_LANG, "ops.button_ack"),
                                                                          f"/ops incident ack {inc.number}")]]))
                if self.core.ops is not None:
                    await self.core.ops.record(who="bot", command="incident", args=f"remind {inc.number}",
                                               result="reminded")
                done.append((f"incident:{inc.number}", "remind"))
        except ServiceUnavailable:
            pass
        return done
