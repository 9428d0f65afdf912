"""Build real Cores against a real Redis for tests."""

from __future__ import annotations


import base64
import os
from datetime import date
from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.profiles import Profile
from bot.core.service import Core
from bot.core.settings import Settings, load_settings
from bot.core.store import Store
from bot.core.store.connection import connect

__all__ = ["test_settings", "make_core", "onboard", "TEST_KEY", "TEST_SIGNING_SECRET", "config_with"]

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
#: The signing secret of every test Core (and of bot processes started by tests: identities
#: resolve to accounts through keyed digests, so both sides must share it).
TEST_SIGNING_SECRET = "test-signing-secret-for-the-suite"


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
        "SIGNING_SECRET": TEST_SIGNING_SECRET,
        "PROFILE_ENCRYPTION_KEY": TEST_KEY,
        "PORT": "0",
    }
    if os.environ.get("TELEGRAM_TRANSPORT"):  # run the Telegram tests on either transport
        base["TELEGRAM_TRANSPORT"] = os.environ["TELEGRAM_TRANSPORT"]
    base.update({k.upper(): str(v) for k, v in env.items()})
    return load_settings(base)


def make_core(redis_url: str, data_dir: Path, clock: Clock | None = None, **env: Any) -> Core:
    """A Core composed like ``bot.app.build_core`` does (every feature registered)."""
    from bot.core.features import register_all

    settings = test_settings(redis_url, data_dir, **env)
    core = Core(settings, Store(connect(redis_url), "url"), clock=clock)
    register_all(core)
    return core


async def onboard(core: Core, uid: str, birth: date = date(1990, 5, 17), lang: str = "ko",
                  tz: str = "Asia/Seoul", share: bool = True, bonus: bool = True) -> Profile:
    """A fully onboarded profile, written through the real services (no shortcuts in Redis).

    ``uid`` is a platform identity (``tg:1``: its account is resolved, as the router would) or
    an account id. The profile's ``uid`` is the account id every per-user key is built from.
    """
    aid = await core.accounts.resolve(uid) if ":" in uid else uid
    profile = await core.profiles.create(aid, lang)  # type: ignore[arg-type]
    now = int(core.clock.now())
    profile = await core.profiles.update(profile, terms_at=now, share_at=now if share else None,
                                         birth=birth, tz=tz, step="done")
    if bonus:
        await core.ledger.welcome_bonus(aid, uid)
    return profile


async def onboard_account(core: Core, aid: str, birth: date = date(1990, 5, 17), lang: str = "ko",
                          tz: str = "Asia/Seoul", share: bool = True, bonus: bool = True) -> Profile:
    """``onboard`` for tests that call the services directly with their own account ids: the
    string is used as the account id as it is (any string works as one), with no identity.
    Tests going through the router use ``onboard`` with a platform identity instead."""
    profile = await core.profiles.create(aid, lang)  # type: ignore[arg-type]
    now = int(core.clock.now())
    profile = await core.profiles.update(profile, terms_at=now, share_at=now if share else None,
                                         birth=birth, tz=tz, step="done")
    if bonus:
        await core.ledger.welcome_bonus(aid, aid)
    return profile


async def account_of(core: Core, identity: str) -> str:
    """The account id of a platform identity (created on first use, as the router does)."""
    return await core.accounts.resolve(identity)
