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
The chain is the only retry owner (SDK retries are off).

Time budget: the whole answer gets ``total_budget_seconds``. Each attempt is capped at
``min(answer_timeout_seconds, what is left)``; a budget cut counts as that provider's
timeout (breaker included), and with less than ``MIN_ATTEMPT_SECONDS`` left the chain goes
straight to the static text (``skipped:budget``, reason ``budget_exhausted``). So the user
waits at most the budget plus a Redis round trip or two, however many providers hang.

Output check: a real answer that ``safety.output_problem`` flags (predictions of death,
illness, accidents, break-ups; self-harm encouragement; guaranteed outcomes; medical or
financial directives) is replaced by the static text (``fallback=True``: the caller releases
the hold) and ``ai_output_blocked`` logs the reason — never the text. The provider is up, so
its breaker counts a success.

Daily spend cap: every real answer (blocked ones too: they were paid for) adds
``input_tokens x input price + output_tokens x output price`` (``ai.prices``, USD per 1M
tokens, so micro-dollars = tokens x price) to ``ai:spend:<UTC day>`` (INCRBY in a MULTI with
its expiry: one atomic step). Once the day's total reaches ``ai.daily_spend_cap_usd`` (0 = no
cap), answers are the static text without any provider call (reason ``spend_cap``, counted
in ``soul_lab_ai_spend_capped_total``), and ``ai_spend_cap_reached`` is logged once per UTC
day (``SET NX`` marker). The cap is soft by the answers already in flight when it is reached.
Redis down: the cap check is skipped (fails open) and the spend of that answer is not
counted (``ai_spend_redis_error``, once per outage). That is safe because every caller holds
the user's credits first, and the ledger refuses holds while Redis is down, so no paid call
reaches a provider then.

Logs: ``ai_request`` for every answer (provider, model, latency, tokens, fallback),
``ai_fallback``, ``ai_provider_error``; never the user's text or the prompt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING
from collections.abc import Sequence

from bot.core.ai.breaker import Breakers
from bot.core.ai.prompts import Prompts, prompts
from bot.core.ai.providers import AnthropicProvider, OpenAIProvider, Provider
from bot.core.ai.safety import output_problem
from bot.core.ai.types import AIRequest, AIResult, Attempt, Message, ProviderAnswer, ProviderError
from bot.core.clock import Clock, SystemClock
from bot.core.logs import log_event
from bot.core.settings import AIConfig
from bot.core.store import K, REDIS_ERRORS, Store, redis_guard

if TYPE_CHECKING:
    from bot.core.metrics import Metrics
    from bot.core.service import Core

__all__ = ["AIChain", "build_chain", "get_chain", "PROVIDERS", "MIN_ATTEMPT_SECONDS"]

PROVIDERS: tuple[str, ...] = ("openai", "anthropic")
#: Below this much budget left, no provider is tried: the static text is served at once.
MIN_ATTEMPT_SECONDS = 0.5
#: How long a day's spend counter is kept (it is only read for its own UTC day).
SPEND_KEY_TTL_SECONDS = 3 * 86400


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
                 unconfigured: Sequence[str] = (), store: Store | None = None, clock: Clock | None = None) -> None:
        self.providers = list(providers)
        self.breakers = breakers
        self.config = config
        self.metrics = metrics
        self.prompts = prompt_set or prompts()
        self.unconfigured = tuple(unconfigured)
        self.store = store  # None: no spend accounting and no cap (a chain without Redis)
        self.clock = clock or SystemClock()
        self._spend_degraded = False
        self._cap_noted_day = ""
        self._unpriced: set[str] = set()

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
        deadline = started + self.config.total_budget_seconds
        attempts: list[Attempt] = [Attempt(name, "skipped:no_key") for name in self.unconfigured]
        messages = _tidy(req.messages)
        if not messages:
            return self._static(req, started, attempts, "no_messages")
        if self.providers and await self.cap_reached():
            if self.metrics is not None:
                self.metrics.ai_capped.inc()
            attempts += [Attempt(p.name, "skipped:spend_cap") for p in self.providers]
            return self._static(req, started, attempts, "spend_cap")
        system = self.system_prompt(req)
        max_tokens = req.max_tokens or self.config.max_output_tokens
        reason = "all_providers_failed"
        for provider in self.providers:
            remaining = deadline - time.perf_counter()
            if remaining < MIN_ATTEMPT_SECONDS:
                attempts.append(Attempt(provider.name, "skipped:budget"))
                reason = "budget_exhausted"
                continue
            permit = await self.breakers.acquire(provider.name)
            if not permit.allowed:
                attempts.append(Attempt(provider.name, "skipped:breaker_open"))
                continue
            t0 = time.perf_counter()
            try:
                ans = await self._attempt(provider, system, messages, max_tokens, deadline)
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
            await self._record_spend(provider, ans)
            problem = output_problem(ans.text, req.lang)
            if problem is not None:
                attempts.append(Attempt(provider.name, "blocked", 200, ms))
                log_event("ai_output_blocked", level=logging.WARNING, provider=provider.name, model=ans.model,
                          kind=req.kind, lang=req.lang, reason=problem)
                if self.metrics is not None:
                    self.metrics.ai_output_blocked.labels(problem).inc()
                return self._static(req, started, attempts, "output_blocked")
            attempts.append(Attempt(provider.name, "ok", 200, ms))
            result = AIResult(ans.text, provider.name, ans.model, (time.perf_counter() - started) * 1000,
                              ans.input_tokens, ans.output_tokens, False, tuple(attempts))
            self._observe(req, result)
            return result
        if not self.providers:
            reason = "no_provider_configured"
        elif all(a.outcome in ("skipped:breaker_open", "skipped:no_key") for a in attempts):
            reason = "breakers_open"
        return self._static(req, started, attempts, reason)

    @staticmethod
    async def _attempt(provider: Provider, system: str, messages: list[Message], max_tokens: int,
                       deadline: float) -> ProviderAnswer:
        """One provider call cut at the chain's deadline (the provider cuts at its own, too).

        Running out of budget is that provider's ``timeout``: it counts toward its breaker.
        """
        try:
            async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                return await provider.complete(system, messages, max_tokens)
        except TimeoutError:
            raise ProviderError(provider.name, "timeout", detail="chain budget") from None

    # --- provider spend -------------------------------------------------------------------
    def _utc_day(self) -> str:
        return self.clock.utcnow().strftime("%Y-%m-%d")

    def _cap_micros(self) -> int:
        return int(round(self.config.daily_spend_cap_usd * 1_000_000))

    def _spend_redis_error(self, exc: BaseException, op: str) -> None:
        if not self._spend_degraded:
            self._spend_degraded = True
            log_event("ai_spend_redis_error", level=logging.WARNING, operation=op, error=type(exc).__name__)

    def spend_micros(self, provider: Provider, ans: ProviderAnswer) -> int:
        """What one answer cost, in micro-dollars (rounded up); 0 when the model has no price."""
        price = self.config.price(provider.model, ans.model)
        if price is None:
            if provider.model not in self._unpriced:
                self._unpriced.add(provider.model)
                log_event("ai_price_missing", level=logging.WARNING, provider=provider.name, model=provider.model)
            return 0
        # USD per 1M tokens x tokens = micro-dollars; Decimal keeps 0.15 x 1000 exact.
        exact = (Decimal(str(price.input_per_mtok)) * ans.input_tokens
                 + Decimal(str(price.output_per_mtok)) * ans.output_tokens)
        return int(exact.to_integral_value(rounding=ROUND_CEILING))

    async def _record_spend(self, provider: Provider, ans: ProviderAnswer) -> None:
        """Add one answer's cost to today's counter (atomic INCRBY + EXPIRE); never raises."""
        micros = self.spend_micros(provider, ans)
        if micros <= 0:
            return
        if self.metrics is not None:
            self.metrics.ai_spend_usd.labels(provider.name).inc(micros / 1_000_000)
        if self.store is None:
            return
        day = self._utc_day()
        try:
            # One key, in order on one connection; EXPIRE after INCRBY needs no transaction
            # (a lost EXPIRE is set again by the next answer).
            async with self.store.redis.pipeline(transaction=False) as pipe:
                pipe.incrby(K.ai_spend(day), micros)
                pipe.expire(K.ai_spend(day), SPEND_KEY_TTL_SECONDS)
                total, _ = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._spend_redis_error(exc, "record")
            return
        self._spend_degraded = False
        total = int(total)
        if self.metrics is not None:
            self.metrics.ai_spend_today_usd.set(total / 1_000_000)
        cap = self._cap_micros()
        if cap > 0 and total >= cap:
            await self._note_cap_reached(day, total)

    async def _note_cap_reached(self, day: str, total: int) -> None:
        """Log ``ai_spend_cap_reached`` once per UTC day across every process (SET NX)."""
        if self._cap_noted_day == day or self.store is None:
            return
        try:
            first = await self.store.redis.set(K.ai_spend_capped(day), str(total), nx=True,
                                               ex=SPEND_KEY_TTL_SECONDS)
        except REDIS_ERRORS as exc:
            self._spend_redis_error(exc, "cap_marker")
            return
        self._cap_noted_day = day
        if first:
            log_event("ai_spend_cap_reached", level=logging.ERROR, day=day, spend_usd=round(total / 1_000_000, 6),
                      cap_usd=self.config.daily_spend_cap_usd)

    async def spend_today(self) -> float:
        """Today's (UTC) provider spend in USD, all processes. Redis down: ``ServiceUnavailable``."""
        if self.store is None:
            return 0.0
        async with redis_guard("ai.spend"):
            raw = await self.store.redis.get(K.ai_spend(self._utc_day()))
        return int(raw or 0) / 1_000_000

    async def cap_reached(self) -> bool:
        """True once today's spend reached ``daily_spend_cap_usd`` (never with a cap of 0).

        Redis down: False (fails open; see the module docstring for why that is safe).
        """
        cap = self._cap_micros()
        if cap <= 0 or self.store is None:
            return False
        day = self._utc_day()
        try:
            raw = await self.store.redis.get(K.ai_spend(day))
        except REDIS_ERRORS as exc:
            self._spend_redis_error(exc, "cap_check")
            return False
        self._spend_degraded = False
        total = int(raw or 0)
        if total < cap:
            return False
        await self._note_cap_reached(day, total)
        return True

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
    return AIChain(providers, breakers, cfg, core.metrics, unconfigured=unconfigured, store=core.store,
                   clock=core.clock)


def get_chain(core: Core) -> AIChain:
    """The Core's shared chain (``core.ai``), built on first use (the SDKs load then)."""
    chain = core.ai
    if chain is None:
        chain = core.ai = build_chain(core)
    return chain
