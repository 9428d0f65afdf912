"""Redis stops mid-test: money refuses cleanly, the bot keeps answering, and recovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import ErrorCode, ServiceUnavailable
from bot.core.router import Event
from tests.support.factory import make_core, onboard
from tests.support.redis_proc import RedisProcess


async def test_outage_answers_service_unavailable_then_recovers(tmp_path: Path) -> None:
    server = RedisProcess(appendonly=True).start()
    core = make_core(server.url, tmp_path)
    try:
        uid = (await onboard(core, "tg:42")).uid
        await core.ledger.grant(uid, 10, "seed", "seed")
        before = (await core.router.handle(Event("tg", "42", "/credits")))[0]
        assert before.error is None and "13" in before.text

        server.stop()
        with pytest.raises(ServiceUnavailable):
            await core.ledger.spend(uid, 1, "during outage", "outage-spend")
        with pytest.raises(ServiceUnavailable):
            await core.ledger.hold(uid, 1, "during outage", "outage-hold")
        reply = (await core.router.handle(Event("tg", "42", "/credits")))[0]
        assert reply.error is ErrorCode.SERVICE_UNAVAILABLE
        assert "아무것도 변경되지 않았" in reply.text
        # Commands that need no stored data still answer.
        help_reply = (await core.router.handle(Event("tg", "42", "/help")))[0]
        assert help_reply.error is None

        server.start()  # same port, same append-only file
        after = (await core.router.handle(Event("tg", "42", "/credits")))[0]
        assert after.error is None and "13" in after.text
        assert await core.ledger.balance(uid) == 13  # nothing half-written during the outage
        assert (await core.ledger.reconcile(uid)).ok
        await core.ledger.spend(uid, 1, "after", "outage-spend")  # the same key now goes through
        assert await core.ledger.balance(uid) == 12
    finally:
        await core.store.close()
        server.cleanup()
