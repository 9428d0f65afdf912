"""Dangerous actions: grant -> another admin's confirm refused -> the same admin's applies once
-> a second press does nothing; every step audited (real Redis, through the router)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from tests.core.ops.conftest import ADMIN, GROUP, LOCAL, OTHER_ADMIN, command_of, ops_core, tg_event
from tests.support.factory import account_of, onboard

pytestmark = pytest.mark.both_backends


async def test_grant_needs_the_same_admins_confirmation_once(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    user = await onboard(core, "tg:42", bonus=False)
    ask = await core.router.handle(tg_event(ADMIN, "/ops credits grant tg:42 7 sorry for the outage"))
    assert ask[0].error is None and len(ask[0].all_buttons()) == 2
    assert await core.ledger.balance(user.uid) == 0  # nothing yet
    confirm = command_of(ask[0], 0)
    assert confirm.startswith("confirm ")

    other = await core.router.handle(tg_event(OTHER_ADMIN, f"/ops {confirm}"))
    assert [r.error for r in other] == [ErrorCode.FORBIDDEN]
    assert await core.ledger.balance(user.uid) == 0

    done = await core.router.handle(tg_event(ADMIN, f"/ops {confirm}"))
    assert done[0].error is None and "7" in done[0].text
    assert await core.ledger.balance(user.uid) == 7

    again = await core.router.handle(tg_event(ADMIN, f"/ops {confirm}"))
    assert [r.error for r in again] == [ErrorCode.NOT_FOUND]
    assert await core.ledger.balance(user.uid) == 7
    history = await core.ledger.history(user.uid, 5)
    assert [(e.kind, e.amount) for e in history] == [("grant", 7)]

    entries = list(reversed(await core.ops.audit.recent(10)))
    steps = [(e.who, e.command, e.result) for e in entries]
    assert steps == [
        (ADMIN, "credits", "confirm_requested"),
        (OTHER_ADMIN, "confirm", "FORBIDDEN"),
        (ADMIN, "confirm", "confirmed"),
        (ADMIN, "credits", "granted"),
        (ADMIN, "confirm", "gone"),
    ]
    # Audit entries name the account, never the user's platform id.
    assert all("tg:42" not in e.args for e in entries)
    assert user.uid in entries[0].args and entries[0].channel == f"tg:{GROUP}"


async def test_cancel_and_expiry_change_nothing(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    assert core.ops is not None
    aid = (await onboard(core, "tg:43", bonus=False)).uid
    ask = await core.ops.run(LOCAL, f"credits grant {aid} 3 test")
    assert (await core.ops.run(LOCAL, command_of(ask[0], 1)))[0].error is None  # cancel
    assert (await core.ops.run(LOCAL, command_of(ask[0], 0)))[0].error is ErrorCode.NOT_FOUND
    assert await core.ledger.balance(aid) == 0
    ask = await core.ops.run(LOCAL, f"credits grant {aid} 3 test")
    token = command_of(ask[0]).split()[1]
    await core.store.redis.delete(f"ops:{{ops}}:confirm:{token}")  # what the 60 s expiry does
    assert (await core.ops.run(LOCAL, f"confirm {token}"))[0].error is ErrorCode.NOT_FOUND
    assert await core.ledger.balance(aid) == 0


async def test_confirmation_token_lives_60_seconds(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    assert core.ops is not None
    aid = (await onboard(core, "tg:44", bonus=False)).uid
    ask = await core.ops.run(LOCAL, f"credits grant {aid} 2 test")
    token = command_of(ask[0]).split()[1]
    assert 55 <= await core.store.redis.ttl(f"ops:{{ops}}:confirm:{token}") <= 60


async def test_bad_grants_are_refused_kindly_and_change_nothing(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path, clock=FixedClock(1_767_225_600))
    assert core.ops is not None
    aid = (await onboard(core, "tg:45", bonus=False)).uid
    for text, code in [(f"credits grant {aid} -3 x", ErrorCode.VALIDATION_ERROR),
                       (f"credits grant {aid} 0 x", ErrorCode.VALIDATION_ERROR),
                       (f"credits grant {aid} 99999999 x", ErrorCode.VALIDATION_ERROR),
                       (f"credits grant {aid} 5", ErrorCode.VALIDATION_ERROR),
                       ("credits grant tg:999999 5 x", ErrorCode.NOT_FOUND),
                       ("credits grant bob 5 x", ErrorCode.VALIDATION_ERROR)]:
        replies = await core.ops.run(LOCAL, text)
        assert [r.error for r in replies] == [code], text
        assert replies[0].all_buttons() == []
    assert await core.ledger.balance(aid) == 0
    assert await account_of(core, "tg:45") == aid
    assert await core.accounts.lookup("tg:999999") is None  # naming a user never creates one
