"""Daily fortune broadcast: each subscriber's local time, at most once per user per local day.

Redis layout (keys in ``bot/core/store/keys.py``, "broadcast" section; every key carries the
``{b}`` hash tag, so each Lua step and MULTI here touches one slot, on Redis Cluster too):

* ``bcast:{b}:subs`` hash account id -> "HH:MM|<platform>" (the platform the user subscribed
  on); ``bcast:{b}:due`` zset account id -> next due instant (UTC epoch s).
* ``bcast:{b}:mark:<local day>:<bucket>`` hashes account id -> state, the per-user-per-day
  marker: ``q`` queued, ``s`` sending, ``S`` sent, ``u`` unknown (a send started and was never
  confirmed), ``f`` failed (dead letter), ``b`` blocked (unsubscribed), ``x`` skipped/expired/
  unreachable. Small listpack buckets per local day (~64 markers each, the count fixed per day
  in ``bcast:{b}:mark:<day>:n``) that expire as a whole at 14:00 UTC the day after
  (``marks``); every change is a Lua step. The legacy single hash ``bcast:{b}:mark``
  (``"<day>:<state>"``) is still read and drained.
* ``bcast:{b}:queue:<platform>`` stream (fields ``u`` account, ``d`` day, ``a`` attempt) +
  consumer group ``bcast-workers``; ``bcast:{b}:retry:<platform>`` zset of backoffs
  ("account|day|attempt"); ``bcast:{b}:dead`` dead-letter stream; ``bcast:{b}:stats:<UTC day>``
  counters; ``bcast:{b}:paused`` the operators' pause flag.

No key or value here holds a platform user id: the runner reaches an account through
``core.accounts.target(account, platform)`` at send time.

Flow: ``tick`` (every minute, every instance) -> stream -> ``BroadcastRunner`` workers ->
the platform's sender (``core.senders``; errors per ``bot.core.delivery``). See ``runner`` for
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
