"""The two AI providers, through their official async SDKs.

Each provider turns one call into a ``ProviderAnswer`` or raises ``ProviderError`` with a
``FailureKind``; it never retries (``max_retries=0``: the chain is the only retry owner) and
never takes longer than the answer deadline as a whole (SDK timeout per phase, plus an
``asyncio.timeout`` over the whole call so a trickling response cannot stretch it).

A 2xx that is not the provider's JSON (an HTML error page from a proxy, an empty answer)
is ``invalid`` — a provider error, not an answer.

The SDKs are imported when a provider is built — only for a configured key, on the chain's
first use (``get_chain``) — never at start-up: together they cost about a second of import
time, tens of MiB and a much larger heap for the garbage collector to walk.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any, Protocol
from collections.abc import Sequence

from bot.core.ai.types import FailureKind, Message, ProviderAnswer, ProviderError

__all__ = ["Provider", "OpenAIProvider", "AnthropicProvider", "parse_retry_after", "classify_status"]

#: Longest retry-after we honour (a broken header must not park a provider for days).
MAX_RETRY_AFTER_SECONDS = 3600.0


class Provider(Protocol):
    name: str
    model: str

    async def complete(self, system: str, messages: Sequence[Message], max_tokens: int) -> ProviderAnswer: ...

    async def aclose(self) -> None: ...


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, min(float(raw_ms) / 1000, MAX_RETRY_AFTER_SECONDS))
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, min(float(raw), MAX_RETRY_AFTER_SECONDS))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER_SECONDS))


def classify_status(status: int) -> FailureKind:
    """HTTP status -> what the chain does with it."""
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status in (408, 409) or status >= 500:  # 500..599 and Anthropic's 529 "overloaded"
        return "server"
    return "bad_request"


def _from_sdk_error(provider: str, exc: Exception, sdk: Any) -> ProviderError:
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(provider, "timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(provider, "connection", detail=type(exc).__name__)
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        kind = classify_status(status)
        retry = parse_retry_after(getattr(exc.response, "headers", None)) if kind == "rate_limited" else None
        return ProviderError(provider, kind, status=status, retry_after=retry)
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError(provider, "invalid", status=getattr(exc, "status_code", None), detail="response shape")
    if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)):  # undecodable / odd body
        return ProviderError(provider, "invalid", detail=type(exc).__name__)
    return ProviderError(provider, "connection", detail=type(exc).__name__)


class _Base:
    name = ""
    sdk: Any = None

    def __init__(self, model: str, answer_timeout: float) -> None:
        self.model = model
        self.answer_timeout = answer_timeout

    async def _guarded(self, call: Any) -> Any:
        try:
            async with asyncio.timeout(self.answer_timeout):
                return await call
        except TimeoutError:
            raise ProviderError(self.name, "timeout") from None
        except ProviderError:
            raise
        except self.sdk.APIError as exc:
            raise _from_sdk_error(self.name, exc, self.sdk) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _from_sdk_error(self.name, exc, self.sdk) from None


class OpenAIProvider(_Base):
    name = "openai"

    def __init__(self, api_key: str, model: str, answer_timeout: float, connect_timeout: float,
                 base_url: str | None = None) -> None:
        super().__init__(model, answer_timeout)
        import openai  # on first use only (see the module doc)

        self.sdk = openai
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url
        self.client = openai.AsyncOpenAI(
            api_key=api_key, max_retries=0,
            timeout=openai.Timeout(answer_timeout, connect=connect_timeout), **kwargs,
        )

    async def complete(self, system: str, messages: Sequence[Message], max_tokens: int) -> ProviderAnswer:
        wire: list[Any] = [{"role": "system", "content": system}]
        wire += [{"role": m.role, "content": m.content} for m in messages]
        resp = await self._guarded(self.client.chat.completions.create(
            model=self.model, messages=wire, max_completion_tokens=max_tokens,
        ))
        # A non-JSON 2xx (an HTML page) comes back from the SDK as a plain str, not a model.
        if not hasattr(resp, "choices") or not resp.choices:
            raise ProviderError(self.name, "invalid", detail="not a chat completion")
        text = (resp.choices[0].message.content or "").strip() if resp.choices[0].message else ""
        if not text:
            raise ProviderError(self.name, "invalid", detail="empty answer")
        usage = getattr(resp, "usage", None)
        return ProviderAnswer(
            text=text,
            model=str(getattr(resp, "model", None) or self.model),
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    async def aclose(self) -> None:
        await self.client.close()


class AnthropicProvider(_Base):
    name = "anthropic"

    def __init__(self, api_key: str, model: str, answer_timeout: float, connect_timeout: float,
                 base_url: str | None = None) -> None:
        super().__init__(model, answer_timeout)
        import anthropic  # on first use only (see the module doc)

        self.sdk = anthropic
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, max_retries=0,
            timeout=anthropic.Timeout(answer_timeout, connect=connect_timeout), **kwargs,
        )

    async def complete(self, system: str, messages: Sequence[Message], max_tokens: int) -> ProviderAnswer:
        wire: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        resp = await self._guarded(self.client.messages.create(
            model=self.model, system=system, messages=wire, max_tokens=max_tokens,
        ))
        blocks = getattr(resp, "content", None)
        if not isinstance(blocks, list):
            raise ProviderError(self.name, "invalid", detail="not a message")
        text = "".join(getattr(b, "text", "") or "" for b in blocks if getattr(b, "type", "") == "text").strip()
        if not text:
            raise ProviderError(self.name, "invalid", detail="empty answer")
        usage = getattr(resp, "usage", None)
        return ProviderAnswer(
            text=text,
            model=str(getattr(resp, "model", None) or self.model),
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )

    async def aclose(self) -> None:
        await self.client.close()
