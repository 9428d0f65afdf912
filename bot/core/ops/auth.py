"""Who may run ops commands: an id in ``OPS_ADMINS`` speaking in a chat in ``OPS_CHANNELS``.

Pure (no I/O). The terminal (``trusted``) is a local operator and needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.ops.caller import OpsCaller
    from bot.core.settings import Settings

__all__ = ["authorised", "ops_targets"]


def authorised(settings: Settings, caller: OpsCaller) -> bool:
    """True when ``caller`` may run ops commands (see module docstring)."""
    if caller.trusted:
        return True
    return bool(caller.user) and caller.user in settings.ops_admins and caller.channel in settings.ops_channels


def ops_targets(settings: Settings) -> list[tuple[str, str]]:
    """``OPS_CHANNELS`` as (platform, sender target): ``tg:-100123`` -> ("tg", "chat:-100123")."""
    out: list[tuple[str, str]] = []
    for channel in sorted(settings.ops_channels):
        platform, sep, chat = channel.partition(":")
        if sep and platform and chat:
            out.append((platform, f"chat:{chat}"))
    return out
