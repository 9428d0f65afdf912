"""Build real Cores against a real Redis for tests."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.profiles import Profile
from bot.core.service import Core
from bot.core.settings import Settings, load_settings
from bot.core.store import Store
from bot.core.store.connection import connect

__all__ = ["test_settings", "make_core", "onboard", "TEST_KEY", "config_with"]

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


def config_with(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    """A copy of config/defaults.toml with ``key = value`` lines replaced per section (for
    processes started by tests: they read ``CONFIG_FILE``)."""
    import re

    from bot.core.settings import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for section, values in sections.items():
        head = text.index(f"[{section}]\n")
        end = text.find("\n[", head + 1)
        end = len(text) if end < 0 else end
        body = text[head:end]
        for key, value in values.items():
            rendered = repr(value) if not isinstance(value, str) else f'"{value}"'
            body, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {rendered}", body)
            if n == 0:
                body = body.rstrip("\n") + f"\n{key} = {rendered}\n"
        text = text[:head] + body + text[end:]
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_settings(redis_url: str, data_dir: Path, **env: Any) -> Settings:
    base = {
        "APP_ENV": "test",
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data_dir),
        "SIGNING_SECRET": "test-signing-secret-for-the-suite",
        "PROFILE_ENCRYPTION_KEY": TEST_KEY,
        "PORT": "0",
    }
    base.update({k.upper(): str(v) for k, v in env.items()})
    return load_settings(base)


def make_core(redis_url: str, data_dir: Path, clock: Clock | None = None, **env: Any) -> Core:
    settings = test_settings(redis_url, data_dir, **env)
    return Core(settings, Store(connect(redis_url), "url"), clock=clock)


async def onboard(core: Core, uid: str, birth: date = date(1990, 5, 17), lang: str = "ko",
                  tz: str = "Asia/Seoul", share: bool = True, bonus: bool = True) -> Profile:
    """A fully onboarded profile, written through the real services (no shortcuts in Redis)."""
    profile = await core.profiles.create(uid, lang)  # type: ignore[arg-type]
    now = int(core.clock.now())
    profile = await core.profiles.update(profile, terms_at=now, share_at=now if share else None,
                                         birth=birth, tz=tz, step="done")
    if bonus:
        await core.ledger.welcome_bonus(uid)
    return profile
