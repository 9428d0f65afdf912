"""A real bot process (``python -m bot run``) configured for Slack: the composition root mounts
``/slack/events`` on its HTTP server, /ops answers through the fake Slack, /api/health probes Slack."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.core.store import K
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.slack.conftest import ADMIN, OPS_CHANNEL, slack_env
from tests.support.bot_procs import bot_env, start_bot, stop_bot, wait_ready
from tests.support.factory import make_core


async def test_a_bot_process_serves_ops_from_slack(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegramAPI() as tg, FakeSlack() as slack, aiohttp.ClientSession() as http:
        env = bot_env(redis_url, tmp_path, tg, None, **{k: str(v) for k, v in slack_env(slack).items()})
        proc = await start_bot(env)
        try:
            port = int(env["PORT"])
            await wait_ready(http, port, proc)
            url = f"http://127.0.0.1:{port}/slack/events"
            req = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL)
            status, _, _ = await slack.deliver(url, req)
            assert status == 200
            [answer] = await slack.wait_responses(1, req.response_id, timeout=20)
            assert "slack: ok" in answer.text and "telegram: ok" in answer.text
            forged = slack.slash_command("health", user=ADMIN, channel=OPS_CHANNEL, secret="forged")
            assert (await slack.deliver(url, forged))[0] == 401
            async with http.get(f"http://127.0.0.1:{port}/api/health") as r:
                body = await r.json()
            assert body["dependencies"]["slack"]["status"] == "ok"
        finally:
            log = await stop_bot(proc)
        assert b"slack_request_refused" in log
    core = make_core(redis_url, tmp_path / "check")
    try:
        entries = [f for _, f in await core.store.redis.xrange(K.ops_audit())]
    finally:
        await core.store.close()
    # health's result is ok or degraded (the scheduler's first heartbeat may still be on its way)
    assert [(e["surface"], e["command"]) for e in entries] == [("slack", "health"), ("slack", "request")]
    assert entries[1]["result"] == "UNAUTHORIZED" and entries[1]["who"] == "slack:unverified"
