"""Feature modules: each registers its commands on the router with ``register(router)``.

Add a module here to switch a feature on; order decides /help order and text-hook order.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.router import Router

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
    "saju_cmd",
)


def register_all(router: Router) -> None:
    for name in FEATURES:
        import_module(f"bot.core.features.{name}").register(router)
