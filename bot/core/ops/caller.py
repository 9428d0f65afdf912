"""Who runs an ops command, from where (built by each surface)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OpsCaller"]


@dataclass(frozen=True, slots=True)
class OpsCaller:
    """``surface`` "slack" | "tg" | "dc" | "local"; ``user`` "slack:U123" | "tg:123" | "dc:456" |
    "local:<os user>"; ``channel`` "slack:C123" | "tg:-100123" | "dc:789" | "" (terminal).

    ``trusted`` is the terminal: a local operator with access to the configured Redis, so no
    admin or channel rule applies (it is still audited). ``lang`` is the language replies are
    written in (operators read Korean first)."""

    surface: str
    user: str
    channel: str
    trusted: bool = False
    lang: str = "ko"
