"""Broadcast test rig: several bot instances (Cores) on one real Redis, each with the real
Telegram adapter sender talking to one fake Bot API server, plus fast broadcast timings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.core.broadcast import BroadcastOptions, BroadcastRunner, Subscriptions
from bot.core.broadcast.marks import read_marks
from bot.core.clock import FixedClock
from bot.core.service import Core
from bot.handlers.telegram import TelegramAdapter
from bot.handlers.telegram_delivery import install
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.factory import make_core, onboard

ROOT = Path(__file__).resolve().parents[3]

#: Fast timings: takeover after 0.5 s idle, retries after ~0.05 s.
FAST = BroadcastOptions(workers=8, read_block_ms=100, claim_min_idle_ms=500, claim_interval_s=0.2,
                        retry_interval_s=0.05, max_attempts=3, backoff_base_s=0.05, backoff_max_s=0.2,
                        pause_poll_s=0.05)


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@dataclass
class Instance:
    core: Core
    adapter: TelegramAdapter | None
    runner: BroadcastRunner


@dataclass
class Rig:
    api: FakeTelegramAPI
    clock: FixedClock
    redis_url: str
    tmp: Path
    config: Path
    instances: list[Instance] = field(default_factory=list)
    #: Telegram user id -> the account id it resolved to (subscribers are accounts).
    accounts: dict[int, str] = field(default_factory=dict)

    def uid(self, user_id: int) -> str:
        """The account id of Telegram user ``user_id`` (subscribed through ``subscribe_many``)."""
        return self.accounts[user_id]

    @property
    def core(self) -> Core:
        return self.instances[0].core

    async def add_instance(self, options: BroadcastOptions = FAST, telegram: bool = True) -> Instance:
        core = make_core(self.redis_url, self.tmp, clock=self.clock, TELEGRAM_BOT_TOKEN=self.api.token,
                         TELEGRAM_API_BASE_URL=self.api.url, CONFIG_FILE=str(self.config))
        adapter = None
        if telegram:
            adapter = TelegramAdapter(core)
            await adapter.app.initialize()  # getMe, as at start-up; no polling needed here
            install(core)
        inst = Instance(core, adapter, BroadcastRunner(core, options=options))
        self.instances.append(inst)
        return inst

    async def subscribe_many(self, users: list[tuple[int, str, str]], birth: date = date(1990, 5, 17),
                             lang: str = "ko") -> None:
        """(telegram user id, "HH:MM", tz) each: resolve the identity to its account, onboard the
        account through the services, then subscribe it on Telegram."""
        subs = Subscriptions(self.core)
        sem = asyncio.Semaphore(50)

        async def one(user_id: int, hhmm: str, tz: str) -> None:
            async with sem:
                uid = await self.core.accounts.resolve(f"tg:{user_id}")
                self.accounts[user_id] = uid
                await onboard(self.core, uid, birth=birth, lang=lang, tz=tz, bonus=False)
                await subs.subscribe(uid, hhmm, tz, platform="tg")

        await asyncio.gather(*(one(*u) for u in users))

    async def start_workers(self) -> None:
        for inst in self.instances:
            await inst.runner.start(scheduler=False)

    async def marks(self) -> dict[str, str]:
        return await read_marks(self.core)

    async def wait_settled(self, uids: list[str], timeout: float = 60.0) -> dict[str, str]:
        """Wait until no marker of ``uids`` is queued/sending and nothing is pending."""
        deadline = time.monotonic() + timeout
        while True:
            marks = await self.marks()
            busy = [u for u in uids if marks.get(u, "")[11:] in ("q", "s")]
            if not busy:
                return marks
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(busy)} still busy, e.g. {[(u, marks.get(u)) for u in busy[:5]]}")
            await asyncio.sleep(0.05)

    def messages(self, chat_id: int) -> int:
        return len(self.api.calls_to("sendMessage", chat_id=chat_id))

    async def close(self) -> None:
        for inst in self.instances:
            await inst.runner.stop(drain_seconds=2)
            if inst.adapter is not None:
                await inst.adapter.app.shutdown()
            await inst.core.store.close()


@pytest.fixture
async def rig(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    # The shared outbound limiter stays on, with a budget that measures the code, not Telegram's policy.
    config = tmp_path / "broadcast.toml"
    config.write_text((ROOT / "config" / "defaults.toml").read_text(encoding="utf-8").replace(
        "global_per_second = 30", "global_per_second = 100000"), encoding="utf-8")
    async with FakeTelegramAPI() as api:
        r = Rig(api, FixedClock(utc(2025, 6, 15, 0, 0, 0)), redis_url, tmp_path, config)
        try:
            yield r
        finally:
            await r.close()


Sender = Callable[[str, Any], Awaitable[None]]
