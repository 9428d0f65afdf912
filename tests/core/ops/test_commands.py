"""The control and money commands end to end on real Redis: ratelimit, ai, broadcast, user,
audit, refund (the Stars side through the fake Bot API, the network edge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import ErrorCode
from bot.core.payments import invoice_payload, payment_info, record_purchase
from tests.core.ops.conftest import LOCAL, command_of, ops_core
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.factory import onboard

pytestmark = pytest.mark.both_backends


async def confirmed(core, text: str):  # type: ignore[no-untyped-def]
    ask = await core.ops.run(LOCAL, text)
    assert ask[0].error is None and ask[0].all_buttons(), ask[0].text
    return await core.ops.run(LOCAL, command_of(ask[0]))


async def test_ratelimit_ai_and_broadcast(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    assert "command: 30/60s" in (await core.ops.run(LOCAL, "ratelimit show"))[0].text
    assert (await core.ops.run(LOCAL, "ratelimit set nope 1 1"))[0].error is ErrorCode.VALIDATION_ERROR
    done = await confirmed(core, "ratelimit set command 50 60")
    assert done[0].error is None
    assert (await core.limiter.effective())["command"].limit == 50
    assert "openai: closed (no key)" in (await core.ops.run(LOCAL, "ai status"))[0].text
    await confirmed(core, "ai open openai 10m")
    assert "openai: open" in (await core.ops.run(LOCAL, "ai status"))[0].text
    await confirmed(core, "ai close openai")
    assert "openai: closed" in (await core.ops.run(LOCAL, "ai status"))[0].text
    await confirmed(core, "broadcast pause")
    assert await core.store.redis.exists("bcast:{b}:paused")
    await core.ops.run(LOCAL, "broadcast resume")
    assert not await core.store.redis.exists("bcast:{b}:paused")


async def test_user_summary_shows_no_birth_data(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    p = await onboard(core, "tg:77")
    text = (await core.ops.run(LOCAL, "user tg:77"))[0].text
    assert p.uid in text and "tg" in text and "1990" not in text and "05-17" not in text
    assert "잔액 3" in text  # the welcome bonus
    audit = (await core.ops.run(LOCAL, "audit"))[0].text
    assert "0" in audit and (await core.ops.audit.recent(1))[0].result == "ok"
    assert "✅" in (await core.ops.run(LOCAL, f"audit {p.uid}"))[0].text
    log = (await core.ops.run(LOCAL, "audit log 3"))[0].text
    assert "local:tester" in log and "tg:77" not in log


async def test_refunds_paid_and_stars_only(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegramAPI() as api:
        core = ops_core(redis_url, tmp_path, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.url)
        from bot.app import register_payment_providers

        register_payment_providers(core)
        p = await onboard(core, "tg:78", bonus=False)
        pack = core.settings.product.credits.packs[0]
        api.charges["paid-1"] = 78
        api.charges["rej-1"] = 78
        await record_purchase(core, p.uid, "paid-1", invoice_payload(pack.id, p.uid), "XTR", pack.stars)
        await record_purchase(core, p.uid, "rej-1", invoice_payload(pack.id, p.uid), "XTR", pack.stars + 1)
        assert (await payment_info(core, "rej-1"))["status"] == "rejected"
        assert await core.ledger.balance(p.uid) == pack.total

        done = await confirmed(core, "refund paid-1")
        assert done[0].error is None and "paid-1" in api.refunded
        assert await core.ledger.balance(p.uid) == 0
        done = await confirmed(core, "refund rej-1")
        assert done[0].error is None and "rej-1" in api.refunded
        info = await payment_info(core, "rej-1")
        assert info["status"] == "refunded" and info["refund_kind"] == "stars_only"
        assert await core.ledger.balance(p.uid) == 0
        again = await core.ops.run(LOCAL, "refund rej-1")  # nothing left to refund
        assert again[0].error is ErrorCode.CONFLICT
        assert "0" in (await core.ops.run(LOCAL, "audit"))[0].text
        assert (await core.ops.audit.recent(1))[0].result == "ok"
