"""``/ops …`` through the router: the Telegram ops group (and the Discord ops channel).

Registers ``core.ops`` (the one ops core, ``bot.core.ops``) and a hidden router command
``ops`` (no help entry, so it is in no user menu; no profile needed). The handler only
translates: an ``OpsCaller`` from the event (platform, ``platform:user_id``, the chat) and the
text after ``/ops`` (``/ops@bot`` is stripped by the router). Authorisation, confirmation and
auditing happen in ``core.ops.run``; a non-admin gets ``FORBIDDEN`` there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.ops import Ops, OpsCaller
from bot.core.reply import Reply
from bot.core.router import Ctx

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register", "caller_of"]


def caller_of(ctx: Ctx) -> OpsCaller:
    ev = ctx.event
    return OpsCaller(surface=ev.platform, user=ev.uid, channel=ev.channel if ev.chat_id else "", lang=ctx.lang)


def register(router: Router) -> None:
    core = router.core
    core.ops = Ops(core)

    @router.command("ops", needs_profile=False)
    async def ops(ctx: Ctx) -> list[Reply]:
        assert core.ops is not None
        return await core.ops.run(caller_of(ctx), ctx.args)
