"""Value types of the AI chain: requests, results, provider answers and provider errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.i18n import Lang

__all__ = [
    "Role",
    "Message",
    "AIRequest",
    "AIResult",
    "Attempt",
    "ProviderAnswer",
    "ProviderError",
    "FailureKind",
    "KINDS",
]

Role = Literal["user", "assistant"]

#: What the chain is asked to write; selects the task instructions in prompts.yaml.
KINDS: tuple[str, ...] = ("chat", "fortune", "tarot", "pair", "report")

#: How a provider call failed (see ``chain`` for what each one does).
FailureKind = Literal[
    "timeout",       # no (whole) answer within the deadline
    "connection",    # could not connect / connection dropped
    "rate_limited",  # 429
    "server",        # 5xx, 529, 408, 409
    "invalid",       # a 2xx that is not a usable answer (HTML, empty, wrong shape)
    "auth",          # 401 / 403: our key is wrong or revoked
    "bad_request",   # 400 and other 4xx: our request is wrong (a bug on our side)
]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. User text only ever travels in ``role="user"`` messages."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class AIRequest:
    """What a feature asks the chain for.

    ``system_context`` holds facts the server computed (sun sign, cards, scores); it is put
    into the system prompt under the persona and rules, so it must never contain user text.
    ``messages`` are the dialogue (user text already passed through ``guard``), oldest
    first, alternating and ending with a user message. ``static_text`` is the engine-written
    answer in ``lang`` used when no provider answers.
    """

    kind: str
    lang: Lang
    system_context: str
    messages: tuple[Message, ...]
    static_text: str
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: str  # "ok" | "skipped:<why>" | a FailureKind
    status: int | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class AIResult:
    text: str
    provider: str  # "openai" | "anthropic" | "static"
    model: str | None
    latency_ms: float
    input_tokens: int
    output_tokens: int
    fallback: bool
    attempts: tuple[Attempt, ...] = field(default=())

    def as_log(self) -> dict[str, Any]:
        """The fields every ``ai_request`` log line and cached result carry (no user text)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "latency_ms": round(self.latency_ms, 1),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "fallback": self.fallback,
        }


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    text: str
    model: str
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """A provider call failed; ``kind`` decides what the chain does next."""

    def __init__(self, provider: str, kind: FailureKind, status: int | None = None,
                 retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(f"{provider}: {kind}" + (f" ({status})" if status else "") + (f": {detail}" if detail else ""))
        self.provider = provider
        self.kind: FailureKind = kind
        self.status = status
        self.retry_after = retry_after
        self.detail = detail
