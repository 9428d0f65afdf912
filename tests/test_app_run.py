"""`python -m bot run` as a real process: Telegram (fake Bot API), HTTP, broadcast, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.factory import TEST_KEY
from tests.support.redis_proc import free_port

ROOT = Path(__file__).resolve().parents[1]


async def test_run_serves_telegram_and_http_then_stops_on_sigterm(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    async with FakeTelegramAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
        env.update({
            "APP_ENV": "production", "REDIS_URL": redis_url, "SIGNING_SECRET": "run-test-signing-secret-0123456789",
            "PROFILE_ENCRYPTION_KEY": TEST_KEY, "DATA_DIR": str(tmp_path), "PORT": str(port),
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.url,
            # The suite's redis-server keeps no append-only file, which production refuses.
            "REDIS_ALLOW_UNSAFE": "1",
        })
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await api.deliver(api.message_update(4242, "/start"))
            [welcome] = await api.wait_for("sendMessage", 1, timeout=20, chat_id=4242)
            assert "소울 랩" in welcome["text"]
            assert api.calls_to("setMyCommands")
            for _ in range(50):  # the handled /start leaves the inbox within a few ms (batched delete)
                async with aiohttp.ClientSession() as s:
                    async with s.get(f"http://127.0.0.1:{port}/api/health") as r:
                        body = await r.json()
                if body["dependencies"]["delivery"]["inbox_tg_pending"] == 0:
                    break
                await asyncio.sleep(0.1)
            assert r.status == 200
            assert {"redis", "telegram", "ai", "scheduler", "delivery"} <= set(body["dependencies"])
            assert body["dependencies"]["scheduler"]["status"] == "ok"
            delivery = body["dependencies"]["delivery"]
            assert delivery["status"] == "ok" and delivery["inbox_tg_partitions_here"] == 16
            assert delivery["inbox_tg_pending"] == 0 and delivery["outbox_overdue"] == 0
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
            assert 'soul_lab_delivery{figure="inbox_tg_pending"} 0.0' in text
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err
        assert b'"redis_unsafe_allowed"' in err  # started, but said that Redis is not safe for money
