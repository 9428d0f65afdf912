"""The terminal chat end to end through a pipe: a real process, its own embedded Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_console(lines: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "TELEGRAM_", "DISCORD_"))}
    environ.update({"DATA_DIR": str(data_dir), "APP_ENV": "development", "PYTHONUNBUFFERED": "1",
                    "LOG_LEVEL": "DEBUG", **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", "console"], input="\n".join(lines) + "\n", text=True,
        capture_output=True, cwd=ROOT, env=environ, timeout=60,
    )


def test_piped_onboarding_then_credits_shows_three(tmp_path: Path) -> None:
    proc = run_console(
        ["/start", "1", "1", "2", "1990-05-17", "1", "1", "/credits"], tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[1] 한국어" in out and "[2] English" in out  # buttons as numbered choices
    assert "환영 선물로 복채 3개" in out
    assert "복채 잔액: 3" in out
    assert "Traceback" not in proc.stderr
    log = (tmp_path / "console.log").read_text()
    assert '"event": "command_handled"' in log and "request_id" in log  # JSON lines, one event each
    assert "1990-05-17" not in log and "1990-05-17" not in proc.stderr  # the birth date is never logged
    # The embedded redis-server kept its data under DATA_DIR with the append-only file on.
    assert (tmp_path / "redis").is_dir()
    assert any(p.name.startswith("appendonly") for p in (tmp_path / "redis").iterdir())


def test_state_survives_a_restart_of_the_console(tmp_path: Path) -> None:
    first = run_console(["/start", "2", "1", "1", "1985-12-22", "/setup time 07:30", "/setup tz UTC"], tmp_path)
    assert first.returncode == 0 and "All set!" in first.stdout
    second = run_console(["/profile", "/credits"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Birth date: 1985-12-22" in second.stdout and "Birth time: 07:30" in second.stdout
    assert "Balance: 3 credits" in second.stdout


def test_empty_input_exits_cleanly(tmp_path: Path) -> None:
    proc = run_console([], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == ""
