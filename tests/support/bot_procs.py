"""Real bot processes (``python -m bot run``) for tests and benchmarks.

The fake Bot API and fake OpenAI (``tests/fakes/``) are the network edge; every process
shares one real Redis. A process's log (stderr) goes to a file in ``DATA_DIR`` rather than a
pipe, so a chatty process never blocks on a full pipe; ``stop_bot`` returns it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bot.core.service import Core
from tests.fakes.ai_servers import FakeAI
from tests.support.factory import TEST_KEY, TEST_SIGNING_SECRET, config_with, onboard
from tests.support.redis_proc import free_port

__all__ = ["ROOT", "bot_env", "start_bot", "stop_bot", "bot_log", "wait_until", "wait_ready", "post_update",
           "onboard_identity", "SECRET_HEADER", "BotApi"]

ROOT = Path(__file__).resolve().parents[2]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class BotApi(Protocol):
    """Where the bot reaches Telegram: ``FakeTelegramAPI`` or one in its own process."""

    token: str

    @property
    def url(self) -> str: ...


def bot_env(redis_url: str, tmp_path: Path, api: BotApi, oa: FakeAI | None, *,
            config: dict[str, dict[str, Any]] | None = None, **extra: str) -> dict[str, str]:
    """The environment of one bot process (each call picks a new free ``PORT``).

    ``config`` overrides sections of config/defaults.toml (default: a short delivery takeover
    and AI budget, for crash tests). ``oa`` None: no AI provider configured. The signing
    secret is the test Cores' (``make_core``), so both resolve identities to the same accounts.
    """
    sections = config if config is not None else {
        "delivery": {"takeover_seconds": 6.0, "shutdown_grace_seconds": 3.0},
        "ai": {"total_budget_seconds": 1.0, "answer_timeout_seconds": 1.0}}
    port = free_port()
    cfg_dir = tmp_path / f"config-{port}"  # one file per process: config_with names it config.toml
    cfg_dir.mkdir(parents=True, exist_ok=True)
    cfg = config_with(cfg_dir, **sections)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "SLACK_", "OPENAI_",
                                                                    "ANTHROPIC_"))}
    env.update({
        "APP_ENV": "test", "REDIS_URL": redis_url, "SIGNING_SECRET": TEST_SIGNING_SECRET,
        "PROFILE_ENCRYPTION_KEY": TEST_KEY, "DATA_DIR": str(tmp_path), "PORT": str(port),
        "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.url,
        "CONFIG_FILE": str(cfg), "LOG_LEVEL": "WARNING",
    })
    if os.environ.get("TELEGRAM_TRANSPORT"):  # run the process tests on either transport
        env["TELEGRAM_TRANSPORT"] = os.environ["TELEGRAM_TRANSPORT"]
    if oa is not None:
        env.update({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": oa.base_url})
    env.update(extra)
    return env


_started = itertools.count(1)


def _open_log(env: dict[str, str]) -> tuple[Path, Any]:
    path = Path(env["DATA_DIR"]) / f"bot-{env['PORT']}-{next(_started)}.log"
    return path, open(path, "wb")  # noqa: SIM115 - handed to the child


def _read_log(path: Path | None) -> bytes:
    return path.read_bytes() if path is not None and path.exists() else b""


async def start_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python -m bot run`` with ``env``; its log goes to ``proc.log_path`` (in ``DATA_DIR``)."""
    path, log = _open_log(env)
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=log)
    finally:
        log.close()
    proc.log_path = path  # type: ignore[attr-defined]
    return proc


def bot_log(proc: asyncio.subprocess.Process) -> bytes:
    """What the process logged so far."""
    return _read_log(getattr(proc, "log_path", None))


async def stop_bot(proc: asyncio.subprocess.Process) -> bytes:
    """SIGTERM (if still running), wait for the exit; returns the process's log."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), timeout=30)
    return bot_log(proc)


async def wait_until(check: Any, timeout: float = 40.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def wait_ready(http: aiohttp.ClientSession, port: int, proc: asyncio.subprocess.Process,
                     timeout: float = 60.0) -> None:
    """Until the process answers ``GET /health`` (its HTTP server starts after the adapters)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        assert proc.returncode is None, f"bot on port {port} exited with {proc.returncode}"
        try:
            async with http.get(f"http://127.0.0.1:{port}/health") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        assert asyncio.get_running_loop().time() < deadline, f"bot on port {port} never became ready"
        await asyncio.sleep(0.1)


async def post_update(http: aiohttp.ClientSession, port: int, path: str, secret: str,
                      update: dict[str, Any]) -> int:
    """POST one update to a process's webhook route, as a load balancer in front of it would.
    Returns the HTTP status."""
    async with http.post(f"http://127.0.0.1:{port}{path}", json=update, headers={SECRET_HEADER: secret}) as r:
        await r.read()
        return r.status


async def onboard_identity(core: Core, identity: str, birth: date = date(1990, 5, 17), *,
                           bonus: bool = True, **kw: Any) -> str:
    """Onboard the person behind a platform identity (``tg:123``) the way the router sees them:
    resolve the identity to its account, write the profile there, grant the welcome bonus
    once per person. Returns the account id."""
    aid = await core.accounts.resolve(identity)
    await onboard(core, aid, birth, bonus=False, **kw)
    if bonus:
        await core.ledger.welcome_bonus(aid, identity)
    return aid
