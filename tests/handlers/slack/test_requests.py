"""/ops from Slack end to end: signed requests into the bot's HTTP server, slack-bolt, the ops
core, answers back through response URLs and the Web API of the fake Slack."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bot.core.ops import OpsCaller
from bot.core.ops.health import publish_heartbeat
from bot.core.store import K
from tests.fakes.slack_api import FakeSlack, SignedRequest
from tests.handlers.slack.conftest import ADMIN, ADMIN2, OPS_CHANNEL, OTHER_CHANNEL, STRANGER, SlackBot
from tests.support.factory import make_core, onboard

FACT = re.compile(r"^\S+ ([\w.-]+): (\w+)", re.M)


async def audit_entries(bot: SlackBot) -> list[dict[str, str]]:
    rows = await bot.core.store.redis.xrange(K.ops_audit())
    return [fields for _, fields in rows]


async def test_ops_health_from_slack_gives_the_same_facts_as_the_terminal(
        slack_bot: SlackBot, redis_url: str, tmp_path: Path) -> None:
    await publish_heartbeat(slack_bot.core)  # what the running process does every heartbeat
    req, status = await slack_bot.command("health")
    assert status == 200
    [answer] = slack_bot.slack.responses_to(req.response_id)
    assert answer.body["response_type"] == "in_channel"
    slack_facts = dict(FACT.findall(answer.text))
    assert slack_facts["redis"] == "ok" and slack_facts["slack"] == "ok"

    # The terminal (`python -m bot ops health`) is another process with its own Core on the same
    # Redis: a trusted local operator, no Slack running there.
    terminal = make_core(redis_url, tmp_path / "terminal")
    try:
        assert terminal.ops is not None
        [local] = await terminal.ops.run(OpsCaller("local", "local:tester", "", trusted=True), "health")
    finally:
        await terminal.store.close()
    assert dict(FACT.findall(local.text)) == slack_facts
    assert slack_bot.slack.calls_to("auth.test")  # the Slack probe asked Slack itself


async def test_a_bad_signature_is_refused_with_401_nothing_runs_and_it_is_audited(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    forged = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL, secret="not-the-signing-secret")
    status, _, _ = await slack_bot.deliver(forged)
    assert status == 401
    # A correctly signed request whose body was changed on the way.
    good = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL)
    tampered = type(good)(good.body.replace(b"health", b"audit"), good.headers, good.kind,
                          good.trigger_id, good.response_id)
    status, _, _ = await slack_bot.deliver(tampered)
    assert status == 401
    await slack_bot.adapter.idle()
    assert slack.responses == [] and slack.calls_to("chat.postMessage") == []
    entries = await audit_entries(slack_bot)
    assert [(e["who"], e["surface"], e["result"], e["detail"]) for e in entries] == [
        ("slack:unverified", "slack", "UNAUTHORIZED", "bad_signature")] * 2
    assert not await slack_bot.core.store.redis.exists(K.slack_seen("command", good.trigger_id))


async def test_a_stale_timestamp_is_refused_with_401_and_audited(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    old = int(time.time()) - 6 * 60  # Slack's window is 5 minutes
    replayed = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL, timestamp=old)
    status, _, _ = await slack_bot.deliver(replayed)
    assert status == 401
    await slack_bot.adapter.idle()
    assert slack.responses == []
    entries = await audit_entries(slack_bot)
    assert [(e["result"], e["detail"]) for e in entries] == [("UNAUTHORIZED", "stale_timestamp")]
    # Within the window the same kind of request is served.
    fresh = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL, timestamp=int(time.time()) - 60)
    status, _, _ = await slack_bot.deliver(fresh)
    await slack_bot.adapter.idle()
    assert status == 200 and len(slack.responses_to(fresh.response_id)) == 1


async def test_a_non_admin_and_an_admin_outside_the_ops_channel_are_refused_and_audited(
        slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    stranger, _ = await slack_bot.command("health", user=STRANGER, channel=OPS_CHANNEL)
    elsewhere, _ = await slack_bot.command("health", user=ADMIN, channel=OTHER_CHANNEL)
    for req in (stranger, elsewhere):
        [answer] = slack.responses_to(req.response_id)
        assert answer.body["response_type"] == "ephemeral"  # only the one who asked sees the refusal
        assert "✅" not in answer.text
    entries = await audit_entries(slack_bot)
    assert [(e["who"], e["channel"], e["result"]) for e in entries] == [
        (f"slack:{STRANGER}", f"slack:{OPS_CHANNEL}", "FORBIDDEN"),
        (f"slack:{ADMIN}", f"slack:{OTHER_CHANNEL}", "FORBIDDEN")]


async def test_a_slash_command_is_acked_in_the_channel_only_inside_an_ops_channel(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    status, body, _ = await slack_bot.deliver(slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL))
    assert status == 200 and json.loads(body) == {"text": "", "response_type": "in_channel"}
    status, body, _ = await slack_bot.deliver(slack.slash_command("health", user=ADMIN, channel=OTHER_CHANNEL))
    assert status == 200 and body == ""  # a plain ack: Slack shows the echo to the sender only
    await slack_bot.adapter.idle()


async def test_the_ack_does_not_wait_for_the_work(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    await slack_bot.command("health")  # warm: the probe's cache is filled, then expires below
    slack_bot.adapter._health = None
    slack.latency = 3.5  # Slack's own API answers slowly: the health probe of Slack takes 3.5 s
    req = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL)
    status, _, _ = await slack_bot.deliver(req)
    assert status == 200
    # Acknowledged while the answer is still being worked out (it needs Slack's slow auth.test):
    # the ack never waits for the work, whatever the work costs.
    assert slack.responses_to(req.response_id) == []
    [answer] = await slack.wait_responses(1, req.response_id, timeout=10)
    assert "slack" in answer.text


async def test_grant_needs_the_same_admins_confirmation_and_applies_once(slack_bot: SlackBot) -> None:
    core, slack = slack_bot.core, slack_bot.slack
    profile = await onboard(core, "tg:4242", bonus=False)
    before = await core.ledger.balance(profile.uid)

    req, _ = await slack_bot.command("credits grant tg:4242 5 환불 보상")
    [ask] = slack.responses_to(req.response_id)
    by_value = {b["value"].split()[1]: b for b in ask.buttons}
    assert set(by_value) == {"confirm", "cancel"}
    message = {"type": "message", "ts": "1700000000.000100", "text": ask.text, "blocks": ask.body["blocks"]}
    assert await core.ledger.balance(profile.uid) == before  # nothing happens before the confirmation

    other, _ = await slack_bot.press(by_value["confirm"], user=ADMIN2, message=message)
    [refused] = slack.responses_to(other.response_id)
    assert refused.body["response_type"] == "ephemeral"
    assert await core.ledger.balance(profile.uid) == before

    mine, _ = await slack_bot.press(by_value["confirm"], user=ADMIN, message=message)
    closed, done = slack.responses_to(mine.response_id)
    assert closed.body["replace_original"] is True and closed.buttons == []  # the buttons are gone
    assert f"<@{ADMIN}>" in closed.body["blocks"][-1]["elements"][0]["text"]
    assert done.body["response_type"] == "in_channel" and done.body["replace_original"] is False
    assert await core.ledger.balance(profile.uid) == before + 5

    again, _ = await slack_bot.press(by_value["confirm"], user=ADMIN, message=message)
    [gone] = slack.responses_to(again.response_id)
    assert gone.body["response_type"] == "ephemeral"
    assert await core.ledger.balance(profile.uid) == before + 5

    results = [(e["command"], e["result"]) for e in await audit_entries(slack_bot)]
    assert results[0] == ("credits", "confirm_requested")
    assert ("confirm", "FORBIDDEN") in results and ("confirm", "confirmed") in results
    assert results[-1] == ("confirm", "gone")


async def test_the_metrics_chart_is_uploaded_to_the_channel(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    await slack_bot.command("health")  # some traffic for the figures
    req, _ = await slack_bot.command("metrics")
    [answer] = slack.responses_to(req.response_id)
    assert answer.text
    [chart] = slack.files_in(OPS_CHANNEL)
    assert chart.data is not None and chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    steps = [c.method for c in slack.calls if c.method.startswith("files.")]
    assert steps == ["files.getUploadURLExternal", "files.completeUploadExternal"]


async def test_a_failed_chart_upload_is_explained_in_the_channel(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    slack.fail_next("files.getUploadURLExternal", "not_in_channel")
    req, _ = await slack_bot.command("metrics")
    texts = [r.text for r in slack.responses_to(req.response_id)]
    assert len(texts) == 2 and "not_in_channel" in texts[1]
    assert slack.files_in(OPS_CHANNEL) == []


async def test_an_app_mention_runs_the_command_and_answers_in_its_thread(slack_bot: SlackBot) -> None:
    slack = slack_bot.slack
    req = slack.app_mention("health", user=ADMIN, channel=OPS_CHANNEL)
    status, _, _ = await slack_bot.deliver(req)
    await slack_bot.adapter.idle()
    assert status == 200
    [post] = slack.messages_in(OPS_CHANNEL)
    assert post["thread_ts"] and "redis: ok" in post["text"]


async def test_url_verification_answers_the_challenge(slack_bot: SlackBot, slack: FakeSlack) -> None:
    body = json.dumps({"token": "x", "challenge": "soul-lab-challenge", "type": "url_verification"}).encode()
    status, text, _ = await slack_bot.deliver(SignedRequest(body, slack.signed(body, "application/json"), "event"))
    assert status == 200 and "soul-lab-challenge" in text
