"""Daily fortune broadcast: each subscriber's local time, at most once per user per local day.

Redis layout (keys in ``bot/core/store/keys.py``, "broadcast" section):

* ``bcast:subs`` hash uid -> "HH:MM"; ``bcast:due`` zset uid -> next due instant (UTC epoch s).
* ``bcast:mark`` hash uid -> "<local day>:<state>", the per-user-per-day marker:
  ``q`` queued, ``s`` sending, ``S`` sent, ``u`` unknown (a send started and was never
  confirmed), ``f`` failed (dead letter), ``b`` blocked (unsubscribed), ``x`` skipped/expired.
  One field per user (the latest day) keeps memory flat; every change is a Lua step.
* ``bcast:queue:<platform>`` stream + consumer group ``bcast-workers``; ``bcast:retry:<platform>``
  zset of backoffs; ``bcast:dead`` dead-letter stream; ``bcast:stats:<UTC day>`` counters;
  ``bcast:paused`` the operators' pause flag.

Flow: ``tick`` (every minute, every instance) -> stream -> ``BroadcastRunner`` workers ->
``core.notify`` (the platform sender; errors per ``bot.core.delivery``). See ``runner`` for
the delivery semantics.
"""

from __future__ import annotations

from bot.core.broadcast.options import GROUP, BroadcastOptions
from bot.core.broadcast.runner import BroadcastRunner
from bot.core.broadcast.schedule import due_instant, next_due, parse_hhmm, plan
from bot.core.broadcast.status import broadcast_status, pause_broadcast, resume_broadcast
from bot.core.broadcast.subscriptions import Subscription, Subscriptions
from bot.core.broadcast.tick import TickResult, tick

__all__ = [
    "GROUP",
    "BroadcastOptions",
    "BroadcastRunner",
    "Subscription",
    "Subscriptions",
    "TickResult",
    "broadcast_status",
    "due_instant",
    "next_due",
    "parse_hhmm",
    "pause_broadcast",
    "plan",
    "resume_broadcast",
    "tick",
]
