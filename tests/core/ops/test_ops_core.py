"""The ops core: authorisation, the audit log, confirmation tokens (real Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import ErrorCode
from bot.core.ops import OpsCaller
from bot.core.router import Event
from tests.core.ops.conftest import ADMIN, GROUP, ops_core, tg_event

pytestmark = pytest.mark.both_backends


async def test_health_from_the_router_in_the_ops_group(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    replies = await core.router.handle(tg_event(ADMIN, "/ops@SoulLabBot health"))
    assert len(replies) == 1 and replies[0].error is None
    assert "redis: ok" in replies[0].text
    entries = await core.ops.audit.recent(5)
    # No bot process publishes a heartbeat here, so nobody runs the broadcast scheduler.
    assert [(e.command, e.result, e.detail, e.who, e.channel) for e in entries] == [
        ("health", "degraded", "scheduler", ADMIN, f"tg:{GROUP}")]


async def test_non_admin_and_admin_outside_the_channel_are_refused_and_audited(redis_url: str,
                                                                                tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    stranger = await core.router.handle(tg_event("tg:5", "/ops health"))
    outside = await core.router.handle(tg_event(ADMIN, "/ops health", chat="-100999"))
    in_dm = await core.router.handle(Event("tg", "900", "/ops health", chat_id="900", chat_kind="private"))
    for replies in (stranger, outside, in_dm):
        assert [r.error for r in replies] == [ErrorCode.FORBIDDEN]
        assert "redis" not in replies[0].text
    entries = list(reversed(await core.ops.audit.recent(10)))
    assert [(e.who, e.channel, e.command, e.result) for e in entries] == [
        ("tg:5", f"tg:{GROUP}", "health", "FORBIDDEN"),
        (ADMIN, "tg:-100999", "health", "FORBIDDEN"),
        (ADMIN, "tg:900", "health", "FORBIDDEN"),
    ]


async def test_the_terminal_is_trusted_and_audited_as_local(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    assert core.ops is not None
    local = OpsCaller("local", "local:alice", "", trusted=True)
    replies = await core.ops.run(local, "health")
    assert "redis: ok" in replies[0].text
    untrusted = await core.ops.run(OpsCaller("local", "local:alice", ""), "health")
    assert untrusted[0].error is ErrorCode.FORBIDDEN
    entries = await core.ops.audit.recent(2)
    assert [(e.who, e.surface, e.result) for e in entries] == [("local:alice", "local", "FORBIDDEN"),
                                                               ("local:alice", "local", entries[1].result)]


async def test_ops_is_in_no_menu(redis_url: str, tmp_path: Path) -> None:
    core = ops_core(redis_url, tmp_path)
    assert "ops" in core.router.commands
    assert all(spec.name != "ops" for spec in core.router.help_entries())
