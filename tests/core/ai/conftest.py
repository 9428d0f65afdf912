"""Fixtures: fake OpenAI/Anthropic servers, and Cores wired to them through the real SDKs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Callable

import pytest

from bot.core.ai import AIChain
from bot.core.ai.chain import build_chain
from bot.core.clock import FixedClock
from bot.core.service import Core
from tests.fakes.ai_servers import FakeAI
from tests.support.factory import make_core

#: 2025-03-10 03:00 UTC = 12:00 in Seoul (a Monday)
T0 = 1741575600.0
#: Short per-answer deadline so a hanging fake costs the test about a second.
DEADLINE = 1.0


@pytest.fixture
async def oa() -> AsyncIterator[FakeAI]:
    async with FakeAI("openai", "OpenAI 상담 답변") as server:
        yield server


@pytest.fixture
async def an() -> AsyncIterator[FakeAI]:
    async with FakeAI("anthropic", "Anthropic 상담 답변") as server:
        yield server


def ai_config(core: Core, **update: Any) -> Any:
    base = {"answer_timeout_seconds": DEADLINE, "connect_timeout_seconds": 1.0}
    base.update(update)
    return core.settings.product.ai.model_copy(update=base)


@pytest.fixture
async def make_ai_core(redis_url: str, tmp_path: Path, oa: FakeAI,
                       an: FakeAI) -> AsyncIterator[Callable[..., Core]]:
    cores: list[Core] = []

    def factory(*, openai: bool = True, anthropic: bool = True, clock: FixedClock | None = None,
                **cfg: Any) -> Core:
        env: dict[str, str] = {}
        if openai:
            env.update(OPENAI_API_KEY="sk-test-openai", OPENAI_BASE_URL=oa.base_url)
        if anthropic:
            env.update(ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=an.base_url)
        core = make_core(redis_url, tmp_path, clock=clock or FixedClock(T0), **env)
        core.ai = build_chain(core, ai_config(core, **cfg))
        cores.append(core)
        return core

    yield factory
    for core in cores:
        chain: AIChain = core.ai
        await chain.aclose()
        await core.store.close()


@pytest.fixture
def ai_core(make_ai_core: Callable[..., Core]) -> Core:
    return make_ai_core()


def chain_of(core: Core) -> AIChain:
    return core.ai
