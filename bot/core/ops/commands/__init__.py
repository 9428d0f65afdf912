"""The ops commands, one module per group; each has ``register(ops)``."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register_all", "MODULES"]

MODULES: tuple[str, ...] = ("health", "metrics", "incidents", "control", "money", "alerts")


def register_all(ops: Ops) -> None:
    for name in MODULES:
        import_module(f"bot.core.ops.commands.{name}").register(ops)
