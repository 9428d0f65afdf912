"""Feature modules: each registers its commands on the router with ``register(router)``.

The composition root (``bot.app.build_core``; ``tests/support/factory.make_core`` in tests)
calls ``register_all(core)`` once; the Core itself registers nothing. Add a module here to
switch a feature on; order decides /help order and text-hook order.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["register_all", "FEATURES"]

FEATURES: tuple[str, ...] = (
    "onboarding",
    "account",
    "credits_cmd",
    "content_cmd",
    "invite_cmd",
    "daily_cmd",
    "ai_cmd",
    "subscribe_cmd",
    "link_cmd",
    "ops_cmd",
)


def register_all(core: Core, names: tuple[str, ...] = FEATURES) -> None:
    """Register the commands of ``names`` (all features by default) on ``core.router``."""
    for name in names:
        import_module(f"bot.core.features.{name}").register(core.router)
