"""``python -m bot reconcile`` (the check after a restore) against real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.core.pseudonym import pseudonym
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import TEST_KEY


@pytest.fixture(autouse=True)
def _keep_log_handlers() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:]
    yield
    root.handlers[:] = saved  # the command configures logging for its own process


async def test_reconcile_passes_balanced_ledgers_and_names_a_broken_one_by_pseudonym(
        core: Core, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path),
                        "SIGNING_SECRET": "test-signing-secret-for-the-suite", "PROFILE_ENCRYPTION_KEY": TEST_KEY,
                        "PROFILE_ENCRYPTION_KEYS": ""}.items():
        monkeypatch.setenv(name, value)
    for n in range(3):
        await core.ledger.grant(f"tg:{n}", 10, "seed", f"seed-{n}")
    await core.ledger.spend("tg:1", 4, "reading", "spend-1")
    assert await asyncio.to_thread(main, ["reconcile"]) == 0
    assert "reconcile: 0 account(s) do not balance" in capsys.readouterr().out

    await core.store.redis.hincrby(K.account("tg:2"), "balance", 5)  # a balance its ledger does not explain
    assert await asyncio.to_thread(main, ["reconcile"]) == 1
    out = capsys.readouterr().out
    assert "reconcile: 1 account(s) do not balance" in out
    assert f"{pseudonym('tg:2')}: balance=15 ledger_sum=10" in out and "tg:2" not in out
