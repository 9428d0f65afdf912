"""``python -m bot broadcast status|pause|resume`` prints the same figures as broadcast_status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from bot.__main__ import main
from bot.core.store import K
from tests.support.factory import TEST_KEY


@pytest.fixture
def env(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for k, v in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path),
                 "PROFILE_ENCRYPTION_KEY": TEST_KEY, "SIGNING_SECRET": "x"}.items():
        monkeypatch.setenv(k, v)
    return redis_url


def test_status_pause_resume(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    r = redis.Redis.from_url(env, decode_responses=True)
    one, two = "a00000000000000a1", "a00000000000000a2"  # account ids
    r.hset(K.broadcast_subs(), mapping={one: "08:00|tg", two: "09:00|tg"})
    r.zadd(K.broadcast_due(), {one: 0, two: 4102444800})  # one overdue, one in 2100
    assert main(["broadcast", "status"]) == 0
    out = capsys.readouterr().out
    assert "subscribers" in out and "rate_per_second" in out
    assert main(["broadcast", "pause", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["paused"] is True and figures["subscribers"] == 2 and figures["due"] == 1
    assert {"sent", "unknown", "failed", "pending", "rate_per_second"} <= set(figures)
    assert r.exists(K.broadcast_paused())
    assert main(["broadcast", "resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["paused"] is False
    r.close()
