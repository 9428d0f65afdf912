"""The signing secret: SIGNING_SECRET, or one random development secret shared through Redis;
never a literal in the code, and a Core without a secret refuses to be built."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.erasure import erase_account
from bot.core.clock import FixedClock
from bot.core.errors import ServiceUnavailable
from bot.core.secrets import SECRET_BYTES, SigningSecretMissing, resolve_signing_secret
from bot.core.service import Core
from bot.core.store import K, Store
from bot.core.store.connection import connect
from tests.support.factory import make_core, onboard
from tests.support.factory import test_settings as settings_for

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()
BOT_DIR = Path(__file__).resolve().parents[2] / "bot"


async def _dev_core(redis_url: str, tmp_path: Path, clock: FixedClock | None = None) -> Core:
    """A Core as `bot.app.build_core` makes it in development: no SIGNING_SECRET."""
    settings = settings_for(redis_url, tmp_path, APP_ENV="development", SIGNING_SECRET="")
    assert settings.env.signing_secret is None
    return await Core.create(settings, Store(connect(redis_url), "url"), clock=clock)


def test_no_literal_secret_is_left_in_the_code() -> None:
    offenders = [str(p) for p in BOT_DIR.rglob("*.py") if "soul-lab-dev" in p.read_text(encoding="utf-8")]
    assert offenders == []


async def test_a_core_without_a_resolved_secret_fails_loudly(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path, SIGNING_SECRET="")
    store = Store(connect(redis_url), "url")
    try:
        with pytest.raises(SigningSecretMissing):
            Core(settings, store)
    finally:
        await store.close()


async def test_configured_secret_is_used_as_is_and_nothing_is_stored(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path)
    try:
        assert core.signing_secret == b"test-signing-secret-for-the-suite"
        assert await resolve_signing_secret(core.store, core.settings) == b"test-signing-secret-for-the-suite"
        assert not await core.store.redis.exists(K.dev_signing_secret())
    finally:
        await core.store.close()


async def test_two_cores_on_one_redis_share_one_random_dev_secret(redis_url: str, tmp_path: Path) -> None:
    # started at the same moment: SET NX lets exactly one value win, both read it back
    a, b = await asyncio.gather(_dev_core(redis_url, tmp_path / "a"), _dev_core(redis_url, tmp_path / "b"))
    try:
        assert a.signing_secret == b.signing_secret
        assert len(a.signing_secret) == SECRET_BYTES
        stored = await a.store.redis.get(K.dev_signing_secret())
        assert bytes.fromhex(stored) == a.signing_secret
        assert await a.store.redis.ttl(K.dev_signing_secret()) == -1  # kept, not expiring
        # a third process started later reads the same one
        c = await _dev_core(redis_url, tmp_path / "c")
        assert c.signing_secret == a.signing_secret
        await c.store.close()
        # every signer uses it: pseudonyms agree across processes
        assert a.leaderboard.member("tg:1") == b.leaderboard.member("tg:1")
    finally:
        await a.store.close()
        await b.store.close()


async def test_a_fresh_redis_gets_a_different_secret(redis_url: str, tmp_path: Path) -> None:
    a = await _dev_core(redis_url, tmp_path)
    first = a.signing_secret
    await a.store.redis.flushall()
    b = await _dev_core(redis_url, tmp_path)
    try:
        assert b.signing_secret != first  # random, not derived from anything public
    finally:
        await a.store.close()
        await b.store.close()


async def test_an_invite_issued_by_one_process_verifies_in_the_other(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    a = await _dev_core(redis_url, tmp_path / "a", clock)
    b = await _dev_core(redis_url, tmp_path / "b", clock)
    try:
        inviter = (await onboard(a, "tg:1", bonus=False)).uid
        invitee = (await onboard(a, "tg:2", bonus=False)).uid
        invite = await a.invites.issue(inviter)
        b.invites.codec.parse(invite.token)  # the signature verifies
        acc = await b.invites.accept(invitee, invite.token)
        assert acc.status == "paired"
        assert await b.ledger.balance(inviter) == 5
    finally:
        await a.store.close()
        await b.store.close()


async def test_welcome_marker_is_keyed_with_the_core_secret(redis_url: str, tmp_path: Path) -> None:
    core = await _dev_core(redis_url, tmp_path)
    try:
        profile = await onboard(core, "tg:7")
        # The marker is implied by the identity mapping until /delete makes it explicit.
        await erase_account(core, profile.uid)
        marker = hmac.new(core.signing_secret, b"tg:7", hashlib.sha256).hexdigest()[:24]
        assert await core.store.redis.get(K.welcome_marker(marker)) == profile.uid
        old_literal = hmac.new(b"soul-lab-" + b"dev", b"tg:7", hashlib.sha256).hexdigest()[:24]
        assert not await core.store.redis.exists(K.welcome_marker(old_literal))
    finally:
        await core.store.close()


async def test_an_unreadable_stored_secret_is_refused(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path, SIGNING_SECRET="")
    store = Store(connect(redis_url), "url")
    try:
        await store.redis.set(K.dev_signing_secret(), "not-hex")
        with pytest.raises(SigningSecretMissing):
            await resolve_signing_secret(store, settings)
    finally:
        await store.close()


async def test_redis_down_while_resolving_is_service_unavailable(tmp_path: Path) -> None:
    settings = settings_for("redis://127.0.0.1:1/0", tmp_path, SIGNING_SECRET="")
    store = Store(connect("redis://127.0.0.1:1/0"), "url")
    try:
        with pytest.raises(ServiceUnavailable):
            await resolve_signing_secret(store, settings)
    finally:
        await store.close()
