"""A Slack request runs once: resends (X-Slack-Retry-Num, a repeated trigger_id) and copies that
reach two processes are acknowledged and dropped; Redis decides, process memory when it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.store import K
from bot.handlers.slack.dedupe import SlackDedupe, request_identity
from tests.handlers.slack.conftest import ADMIN, OPS_CHANNEL, SlackBot
from tests.support.factory import make_core
from tests.support.redis_proc import free_port

pytestmark = pytest.mark.both_backends


async def test_a_retried_event_does_not_run_twice(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    req = slack.app_mention("health", user=ADMIN, channel=OPS_CHANNEL)
    first, _, _ = await slack_bot.deliver(req)
    # Slack did not see our 200 in time and sends the same event again, twice.
    second, _, _ = await slack_bot.deliver(req, retry_num=1)
    third, _, _ = await slack_bot.deliver(req, retry_num=2, retry_reason="http_error")
    await slack_bot.adapter.idle()
    assert (first, second, third) == (200, 200, 200)  # every copy is acknowledged, so Slack stops
    assert len(slack.messages_in(OPS_CHANNEL)) == 1
    audit = await slack_bot.core.store.redis.xrange(K.ops_audit())
    assert [f["command"] for _, f in audit] == ["health"]
    assert await slack_bot.core.store.redis.exists(K.slack_seen("event", req.event_id))


async def test_a_repeated_slash_command_runs_once(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    req = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL)
    for retry in (None, 1):
        status, _, _ = await slack_bot.deliver(req, retry_num=retry)
        assert status == 200
    await slack_bot.adapter.idle()
    assert len(slack.responses_to(req.response_id)) == 1
    assert len(await slack_bot.core.store.redis.xrange(K.ops_audit())) == 1


async def test_copies_reaching_two_processes_run_once(slack_bots: Callable[..., Awaitable[SlackBot]]) -> None:
    one, two = await slack_bots(), await slack_bots()
    slack = one.slack
    for _ in range(5):
        req = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL)
        results = await asyncio.gather(one.deliver(req), two.deliver(req))
        assert [status for status, _, _ in results] == [200, 200]
    await asyncio.gather(one.adapter.idle(), two.adapter.idle())
    assert len(slack.responses) == 5
    assert len(await one.core.store.redis.xrange(K.ops_audit())) == 5


async def test_a_pressed_button_sent_twice_runs_once(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    button = {"action_id": "ops_btn_0_0", "value": "/ops health", "text": {"type": "plain_text", "text": "상태"}}
    req = slack.block_action(button, user=ADMIN, channel=OPS_CHANNEL)
    for retry in (None, 1):
        status, _, _ = await slack_bot.deliver(req, retry_num=retry)
        assert status == 200
    await slack_bot.adapter.idle()
    assert len(await slack_bot.core.store.redis.xrange(K.ops_audit())) == 1


async def test_with_redis_down_the_process_memory_still_drops_copies(tmp_path: Path) -> None:
    dead = make_core(f"redis://127.0.0.1:{free_port()}/0", tmp_path)  # nothing listens there
    try:
        dedupe = SlackDedupe(dead)
        assert await dedupe.claim("command", "1.2.abc") is True  # runs: health must answer in an outage
        assert await dedupe.claim("command", "1.2.abc") is False
        assert await dedupe.claim("command", "1.2.abd") is True
    finally:
        await dead.store.close()


def test_request_identities() -> None:
    assert request_identity({"type": "event_callback", "event_id": "Ev1"}) == ("event", "Ev1")
    assert request_identity({"command": "/ops", "trigger_id": "1.2.x"}) == ("command", "1.2.x")
    assert request_identity({"type": "block_actions", "trigger_id": "3.4.y"}) == ("action", "3.4.y")
    assert request_identity({"type": "url_verification", "challenge": "c"}) is None
    assert request_identity({"command": "/ops", "trigger_id": "{x}"}) == ("command", "x")
