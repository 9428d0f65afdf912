"""The AI fallback chain: OpenAI, then Anthropic, then the caller's static text.

``await chain.answer(AIRequest(kind, lang, system_context, messages, static_text))`` never
raises for a provider problem: it returns an ``AIResult`` whose ``provider`` is
``openai`` / ``anthropic`` / ``static`` and ``fallback`` says whether the text is the static
one (the caller then releases the user's hold: nobody pays for a fallback).

Per provider, in order:
- no API key configured -> skipped (not an error);
- breaker open (or a half-open probe already in flight elsewhere) -> skipped at once;
- timeout, connection error, 408, 409, 429, 5xx, 529, a non-JSON/empty answer -> next
  provider, counted toward that provider's breaker; a 429 with retry-after also keeps the
  provider out for that long;
- 401/403 -> provider out for ``auth_failure_open_seconds`` + ``ai_provider_auth_error``;
- 400 (other 4xx) -> our bug: logged (``ai_bad_request``), straight to the static text.
The chain is the only retry owner (SDK retries are off). Each attempt is capped at
``answer_timeout_seconds`` as a whole, so the worst case before the static text is one
deadline per configured provider.

Logs: ``ai_request`` for every answer (provider, model, latency, tokens, fallback),
``ai_fallback``, ``ai_provider_error``; never the user's text or the prompt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from collections.abc import Sequence

from bot.core.ai.breaker import Breakers
from bot.core.ai.prompts import Prompts, prompts
from bot.core.ai.providers import AnthropicProvider, OpenAIProvider, Provider
from bot.core.ai.types import AIRequest, AIResult, Attempt, Message, ProviderError
from bot.core.logs import log_event
from bot.core.settings import AIConfig

if TYPE_CHECKING:
    from bot.core.metrics import Metrics
    from bot.core.service import Core

__all__ = ["AIChain", "build_chain", "get_chain", "PROVIDERS"]

PROVIDERS: tuple[str, ...] = ("openai", "anthropic")


def _tidy(messages: Sequence[Message]) -> list[Message]:
    """Alternating user/assistant turns starting and ending with the user (both APIs need it)."""
    out: list[Message] = []
    for m in messages:
        if not m.content.strip():
            continue
        if out and out[-1].role == m.role:
            out[-1] = Message(m.role, out[-1].content + "\n\n" + m.content)
        elif out or m.role == "user":
            out.append(m)
    while out and out[-1].role != "user":
        out.pop()
    return out


class AIChain:
    def __init__(self, providers: Sequence[Provider], breakers: Breakers, config: AIConfig,
                 metrics: Metrics | None = None, prompt_set: Prompts | None = None,
                 unconfigured: Sequence[str] = ()) -> None:
        self.providers = list(providers)
        self.breakers = breakers
        self.config = config
        self.metrics = metrics
        self.prompts = prompt_set or prompts()
        self.unconfigured = tuple(unconfigured)

    # --- ops passthrough ------------------------------------------------------------------
    async def force_open(self, provider: str, seconds: float) -> int:
        return await self.breakers.force_open(provider, seconds)

    async def force_close(self, provider: str) -> str:
        return await self.breakers.force_close(provider)

    async def status(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name, st in (await self.breakers.status()).items():
            d = st.as_dict()
            d["configured"] = name not in self.unconfigured and any(p.name == name for p in self.providers)
            d["model"] = next((p.model for p in self.providers if p.name == name), None)
            out[name] = d
        return out

    async def aclose(self) -> None:
        for p in self.providers:
            await p.aclose()

    # --- answering --------------------------------------------------------------------
    def system_prompt(self, req: AIRequest) -> str:
        return self.prompts.system_prompt(req.kind, req.lang, req.system_context)

    async def answer(self, req: AIRequest) -> AIResult:
        started = time.perf_counter()
        attempts: list[Attempt] = [Attempt(name, "skipped:no_key") for name in self.unconfigured]
        messages = _tidy(req.messages)
        if not messages:
            return self._static(req, started, attempts, "no_messages")
        system = self.system_prompt(req)
        max_tokens = req.max_tokens or self.config.max_output_tokens
        reason = "all_providers_failed"
        for provider in self.providers:
            permit = await self.breakers.acquire(provider.name)
            if not permit.allowed:
                attempts.append(Attempt(provider.name, "skipped:breaker_open"))
                continue
            t0 = time.perf_counter()
            try:
                ans = await provider.complete(system, messages, max_tokens)
            except ProviderError as err:
                ms = (time.perf_counter() - t0) * 1000
                attempts.append(Attempt(provider.name, err.kind, err.status, ms))
                stop = await self._on_error(provider, err, permit.probe, req.kind, ms)
                if stop:
                    reason = "bad_request"
                    break
                continue
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in our adapter code: treat as that provider failing
                ms = (time.perf_counter() - t0) * 1000
                log_event("ai_provider_error", level=logging.ERROR, exc_info=True, provider=provider.name,
                          kind=req.kind, error="unexpected", latency_ms=round(ms, 1))
                attempts.append(Attempt(provider.name, "invalid", None, ms))
                await self.breakers.record(provider.name, ok=False, probe=permit.probe)
                continue
            ms = (time.perf_counter() - t0) * 1000
            await self.breakers.record(provider.name, ok=True, probe=permit.probe)
            attempts.append(Attempt(provider.name, "ok", 200, ms))
            result = AIResult(ans.text, provider.name, ans.model, (time.perf_counter() - started) * 1000,
                              ans.input_tokens, ans.output_tokens, False, tuple(attempts))
            self._observe(req, result)
            return result
        if not self.providers:
            reason = "no_provider_configured"
        elif all(a.outcome.startswith("skipped") for a in attempts):
            reason = "breakers_open"
        return self._static(req, started, attempts, reason)

    async def _on_error(self, provider: Provider, err: ProviderError, probe: bool, kind: str, ms: float) -> bool:
        """Book one failed attempt; True means "stop here, serve the static text"."""
        name = provider.name
        log_event("ai_provider_error", level=logging.WARNING, provider=name, model=provider.model, kind=kind,
                  error=err.kind, status=err.status, latency_ms=round(ms, 1),
                  retry_after=err.retry_after, probe=probe)
        if err.kind == "bad_request":
            # Our request is wrong; another provider would not fix it. The provider is up.
            log_event("ai_bad_request", level=logging.ERROR, provider=name, model=provider.model, kind=kind,
                      status=err.status)
            await self.breakers.record(name, ok=True, probe=probe)
            return True
        if err.kind == "auth":
            log_event("ai_provider_auth_error", level=logging.ERROR, provider=name, status=err.status,
                      open_seconds=self.config.auth_failure_open_seconds)
            await self.breakers.trip(name, self.config.auth_failure_open_seconds, "auth")
            return False
        await self.breakers.record(name, ok=False, probe=probe)
        if err.kind == "rate_limited" and err.retry_after:
            await self.breakers.trip(name, err.retry_after, "retry_after")
        return False

    def _static(self, req: AIRequest, started: float, attempts: list[Attempt], reason: str) -> AIResult:
        result = AIResult(req.static_text, "static", None, (time.perf_counter() - started) * 1000, 0, 0, True,
                          tuple(attempts))
        log_event("ai_fallback", level=logging.WARNING, kind=req.kind, lang=req.lang, reason=reason,
                  attempts=",".join(f"{a.provider}:{a.outcome}" for a in attempts))
        self._observe(req, result)
        return result

    def _observe(self, req: AIRequest, result: AIResult) -> None:
        log_event("ai_request", kind=req.kind, lang=req.lang, turns=len(req.messages), **result.as_log(),
                  attempts=",".join(f"{a.provider}:{a.outcome}" for a in result.attempts))
        if self.metrics is not None:
            self.metrics.ai_calls.labels(result.provider, "true" if result.fallback else "false").inc()


def build_chain(core: Core, config: AIConfig | None = None) -> AIChain:
    """The chain from settings: providers with a configured key, breakers on the Core's store."""
    cfg = config or core.settings.product.ai
    env = core.settings.env
    providers: list[Provider] = []
    unconfigured: list[str] = []
    if env.openai_api_key:
        providers.append(OpenAIProvider(env.openai_api_key, cfg.openai_model, cfg.answer_timeout_seconds,
                                        cfg.connect_timeout_seconds, env.openai_base_url))
    else:
        unconfigured.append("openai")
    if env.anthropic_api_key:
        providers.append(AnthropicProvider(env.anthropic_api_key, cfg.anthropic_model, cfg.answer_timeout_seconds,
                                           cfg.connect_timeout_seconds, env.anthropic_base_url))
    else:
        unconfigured.append("anthropic")
    breakers = Breakers(core.store, core.clock, cfg, PROVIDERS)
    return AIChain(providers, breakers, cfg, core.metrics, unconfigured=unconfigured)


def get_chain(core: Core) -> AIChain:
    """The Core's shared chain (``core.extras["ai"]``), built on first use."""
    chain = core.extras.get("ai")
    if chain is None:
        chain = build_chain(core)
        core.extras["ai"] = chain
    return chain
