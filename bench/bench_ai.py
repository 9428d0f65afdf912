"""AI chain overhead and the fallback path. Run by hand (starts its own redis-server):

    .venv/bin/python bench/bench_ai.py

1. Chain overhead with instant in-process providers: breaker acquire + record (two Lua
   calls on a real Redis), prompt building, logging.  Target: >= 500 answers/s.
2. The same through the real OpenAI SDK against the local fake HTTP server (for reference).
3. Fallback with both breakers open: each answer is two breaker checks then the static text.
   Target: p99 <= 5 ms.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.ai import AIChain, AIRequest, Message, ProviderAnswer  # noqa: E402
from bot.core.ai.breaker import Breakers  # noqa: E402
from bot.core.ai.chain import PROVIDERS, build_chain  # noqa: E402
from tests.fakes.ai_servers import FakeAI  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

OVERHEAD_TARGET = 500.0
P99_TARGET_MS = 5.0


class InstantProvider:
    def __init__(self, name: str) -> None:
        self.name = name
        self.model = f"{name}-instant"

    async def complete(self, system: str, messages: Sequence[Message], max_tokens: int) -> ProviderAnswer:
        return ProviderAnswer("instant answer", self.model, 10, 5)

    async def aclose(self) -> None:
        return None


def request(i: int) -> AIRequest:
    return AIRequest("chat", "ko", "별자리: 황소자리\n오늘의 운세: 87/100",
                     (Message("user", f"질문 {i}: 요즘 마음이 복잡해요"),), "정적 풀이")


async def throughput(chain: AIChain, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    fallbacks = 0

    async def one(i: int) -> None:
        nonlocal fallbacks
        async with sem:
            res = await chain.answer(request(i))
            fallbacks += res.fallback

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t0
    assert fallbacks == 0, f"{fallbacks} fallbacks"
    return n / dt


async def latencies(chain: AIChain, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        res = await chain.answer(request(i))
        out.append((time.perf_counter() - t0) * 1000)
        assert res.fallback and res.provider == "static"
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


async def main() -> int:
    logging.disable(logging.CRITICAL)  # measure the chain, not the log handler
    redis = RedisProcess().start()
    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with FakeAI("openai", "빠른 답변") as oa, FakeAI("anthropic") as an:
                core = make_core(redis.url, Path(tmp), OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=oa.base_url,
                                 ANTHROPIC_API_KEY="sk-bench", ANTHROPIC_BASE_URL=an.base_url)
                cfg = core.settings.product.ai
                breakers = Breakers(core.store, core.clock, cfg, PROVIDERS)
                instant = AIChain([InstantProvider("openai"), InstantProvider("anthropic")], breakers, cfg,
                                  core.metrics)
                await throughput(instant, 200, 8)  # warm up (script load, connections)
                for conc in (1, 16, 64):
                    rate = await throughput(instant, 3000, conc)
                    flag = "OK" if rate >= OVERHEAD_TARGET else "BELOW TARGET"
                    print(f"chain overhead, instant providers, concurrency {conc:>3}: {rate:8,.0f} answers/s  "
                          f"(target >= {OVERHEAD_TARGET:.0f}) {flag}")
                    ok &= rate >= OVERHEAD_TARGET

                sdk_chain = build_chain(core)
                await throughput(sdk_chain, 50, 4)
                for conc in (1, 16):
                    rate = await throughput(sdk_chain, 1000, conc)
                    print(f"through the OpenAI SDK + local fake HTTP, concurrency {conc:>3}: {rate:8,.0f} answers/s"
                          "  (reference)")

                await breakers.force_open("openai", 3600)
                await breakers.force_open("anthropic", 3600)
                before = (oa.hits, an.hits)
                await latencies(sdk_chain, 100)
                lat = await latencies(sdk_chain, 5000)
                assert (oa.hits, an.hits) == before, "an open breaker let a call through"
                p99 = pct(lat, 0.99)
                flag = "OK" if p99 <= P99_TARGET_MS else "ABOVE TARGET"
                print(f"fallback, both breakers open (5000 answers): p50 {statistics.median(lat):.3f} ms  "
                      f"p99 {p99:.3f} ms  max {max(lat):.3f} ms  (target p99 <= {P99_TARGET_MS} ms) {flag}")
                ok &= p99 <= P99_TARGET_MS
                await sdk_chain.aclose()
                await core.store.close()
    finally:
        redis.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
