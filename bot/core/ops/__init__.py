"""Operations from chat: one ops core behind ``/ops`` on every surface.

Surfaces (Slack, the Telegram ops group, the Discord ops channel, the terminal) only
translate: they build an ``OpsCaller`` and call ``await core.ops.run(caller, text)`` with the
text after ``/ops`` ("health", "credits grant tg:1 5 refund for bug", "confirm <token>", …),
then render the returned ``bot.core.reply.Reply`` list (text, buttons whose ``command`` is
``"/ops …"`` — a press is ``run(caller, <command after /ops>)`` — and the metrics chart as
an image). Parsing, authorisation (``OPS_ADMINS`` and ``OPS_CHANNELS``), confirmation of
dangerous actions and the audit log all happen inside ``run``.

``core.ops`` is set by the ``ops_cmd`` feature's ``register`` (``bot/core/features/ops_cmd.py``).
"""

from __future__ import annotations

from bot.core.ops.caller import OpsCaller
from bot.core.ops.service import Ops

__all__ = ["OpsCaller", "Ops"]
