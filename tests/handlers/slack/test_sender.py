"""Platform "slack": the sender the ops core posts alerts and reminders through, its delivery
errors, the health probe, and the starter bot.app picks when Slack is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import _platform_starters
from bot.core.delivery import DeliveryBlocked, DeliveryFailed, DeliveryRejected, DeliveryRetryAfter
from bot.core.reply import Button, Image, Reply
from bot.handlers.slack import start_slack
from tests.fakes.slack_api import FakeSlack
from tests.handlers.slack.conftest import OPS_CHANNEL, SlackBot
from tests.support.factory import test_settings as settings_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_the_slack_platform_is_registered_with_its_sender(slack_bot: SlackBot) -> None:
    core = slack_bot.core
    assert "slack" in core.platforms and core.bot_username("slack") == "soullab"
    alert = Reply("🔴 응답 시간 p95 1,240ms > 1,000ms", buttons=[[Button("확인(Ack)", "/ops ack latency_p95"),
                                                                  Button("1시간 무음", "/ops silence latency_p95 1h")]])
    await core.send("slack", f"chat:{OPS_CHANNEL}", alert)
    [post] = slack_bot.slack.messages_in(OPS_CHANNEL)
    assert post["text"] == "🔴 응답 시간 p95 1,240ms &gt; 1,000ms"
    assert [b["value"] for b in post.buttons] == ["/ops ack latency_p95", "/ops silence latency_p95 1h"]


async def test_a_reply_with_a_chart_is_posted_then_uploaded(slack_bot: SlackBot) -> None:
    await slack_bot.core.send("slack", f"chat:{OPS_CHANNEL}", Reply("지표", image=Image(PNG, "metrics.png", "지표 차트")))
    assert len(slack_bot.slack.messages_in(OPS_CHANNEL)) == 1
    [upload] = slack_bot.slack.files_in(OPS_CHANNEL)
    assert upload.data == PNG and upload.filename == "metrics.png" and upload.title == "지표 차트"


async def test_slack_errors_become_delivery_errors(slack_bot: SlackBot) -> None:
    slack, send = slack_bot.slack, slack_bot.adapter.send
    slack.lose_channel("CGONE")
    with pytest.raises(DeliveryBlocked):
        await send("chat:CGONE", Reply("x"))
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(DeliveryRetryAfter) as limited:
        await send(f"chat:{OPS_CHANNEL}", Reply("x"))
    assert limited.value.seconds == 7
    slack.fail_next("chat.postMessage", "invalid_blocks")
    with pytest.raises(DeliveryRejected):
        await send(f"chat:{OPS_CHANNEL}", Reply("x"))
    assert slack.messages_in(OPS_CHANNEL) == []  # no hidden retry delivered anything
    await slack.stop()  # Slack unreachable
    with pytest.raises(DeliveryFailed):
        await send(f"chat:{OPS_CHANNEL}", Reply("x"))


async def test_the_health_probe_asks_slack_and_caches_the_answer(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    calls = len(slack.calls_to("auth.test"))
    first = await slack_bot.adapter.health()
    assert first["status"] == "ok" and first["team"] == slack.team_id
    await slack_bot.adapter.health()
    assert len(slack.calls_to("auth.test")) == calls + 1  # /api/health is polled: one call per 30 s
    slack_bot.adapter._health = None
    slack.fail_next("auth.test", "invalid_auth")
    assert (await slack_bot.adapter.health())["status"] == "down"


async def test_a_revoked_token_at_start_is_logged_and_the_bot_runs_on(
        slack_bots: object, slack: FakeSlack) -> None:
    slack.fail_next("auth.test", "invalid_auth")
    bot = await slack_bots()  # type: ignore[operator]
    assert "slack" in bot.core.platforms and bot.core.bot_username("slack") == ""


async def test_the_starter_is_picked_only_when_token_and_signing_secret_are_set(
        redis_url: str, tmp_path: Path, slack: FakeSlack) -> None:
    none = settings_for(redis_url, tmp_path)
    half = settings_for(redis_url, tmp_path, SLACK_BOT_TOKEN=slack.token)
    both = settings_for(redis_url, tmp_path, SLACK_BOT_TOKEN=slack.token,
                         SLACK_SIGNING_SECRET=slack.signing_secret, SLACK_API_BASE_URL=slack.url + "/api")
    assert start_slack not in _platform_starters(none)
    assert start_slack not in _platform_starters(half)
    assert start_slack in _platform_starters(both)
    assert both.env.slack_api_base_url == slack.api_url  # the trailing slash slack_sdk needs
    assert none.env.slack_api_base_url == "https://slack.com/api/"
