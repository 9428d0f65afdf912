"""Profiles and onboarding through the router: validation, encryption at rest, /delete."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.__main__ import main as cli_main
from bot.app import build_core, main_entry
from bot.core.crypto import key_id
from bot.core.errors import BotError, ErrorCode
from bot.core.profiles import KeyCheckError, RotationReport, field_of, parse_birth_date
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import TEST_KEY, account_of, make_core, onboard
from tests.support.factory import test_settings as settings_for


def ev(text: str, user: str = "500", lang: str | None = "ko") -> Event:
    return Event("tg", user, text, chat_id=user, lang_hint=lang)


@pytest.mark.parametrize("text,key", [
    ("1990/05/17", "profile.bad_birth_date"), ("1990-02-30", "profile.bad_birth_date"),
    ("90-05-17", "profile.bad_birth_date"), ("", "profile.bad_birth_date"),
    ("1899-12-31", "profile.birth_too_old"), ("2030-01-01", "profile.birth_in_future"),
])
def test_birth_date_validation(text: str, key: str) -> None:
    with pytest.raises(BotError) as info:
        parse_birth_date(text, date(2026, 11, 26))
    assert info.value.code is ErrorCode.VALIDATION_ERROR and info.value.key == key


def test_birth_date_edges_accepted() -> None:
    assert parse_birth_date("1900-01-01", date(2026, 11, 26)) == date(1900, 1, 1)
    assert parse_birth_date("2026-11-26", date(2026, 11, 26)) == date(2026, 11, 26)


async def _onboard_by_text(core: Core, user: str = "500") -> list[str]:
    texts = []
    for line in ["/start", "/setup lang ko", "/setup terms yes", "/setup share no", "1991-03-21",
                 "/setup time skip", "Asia/Seoul"]:
        texts += [r.text for r in await core.router.handle(ev(line, user))]
    return texts


async def test_onboarding_by_text_grants_the_welcome_bonus(core: Core) -> None:
    texts = await _onboard_by_text(core)
    assert "환영 선물로 복채 3개" in texts[-1]
    aid = await account_of(core, "tg:500")
    profile = await core.profiles.get(aid)
    assert profile is not None and profile.onboarded and profile.birth == date(1991, 3, 21)
    assert profile.share_at is None and profile.tz == "Asia/Seoul"
    assert await core.ledger.balance(aid) == 3


async def test_birth_date_is_encrypted_at_rest(core: Core) -> None:
    await _onboard_by_text(core)
    raw = await core.store.redis.hgetall(K.profile(await account_of(core, "tg:500")))
    assert set(raw) == {"l", "z", "s", "c", "t", "b"}  # short names (profiles.STORED); no empty fields
    assert raw["b"].startswith(f"v2:{core.cipher.current_kid}:")
    assert "1991" not in raw["b"] and "03-21" not in str(raw)
    # A ciphertext copied to another profile does not decrypt there.
    other_aid = (await onboard(core, "tg:501", birth=date(2000, 1, 1))).uid
    await core.store.redis.hset(K.profile(other_aid), "b", raw["b"])
    other = await core.profiles.get(other_aid)
    assert other is not None and other.birth is None


async def test_a_bad_birth_date_is_explained_and_changes_nothing(core: Core) -> None:
    for line in ["/start", "/setup lang en", "/setup terms yes", "/setup share yes"]:
        await core.router.handle(ev(line, lang="en"))
    key = K.profile(await account_of(core, "tg:500"))
    before = await core.store.redis.hgetall(key)
    reply = (await core.router.handle(ev("2999-01-01", lang="en")))[0]
    assert reply.error is ErrorCode.VALIDATION_ERROR and "hasn't happened yet" in reply.text
    assert await core.store.redis.hgetall(key) == before


async def test_a_command_before_onboarding_is_replayed_after_it(core: Core) -> None:
    first = await core.router.handle(ev("/credits"))
    assert "간단한 설정" in first[0].text
    texts = await _onboard_by_text(core)
    assert any("복채 잔액: 3" in t for t in texts)  # /credits ran once onboarding finished


async def test_language_and_timezone_commands(core: Core) -> None:
    aid = (await onboard(core, "tg:500")).uid
    assert "English" in (await core.router.handle(ev("/language en")))[0].text
    bad = (await core.router.handle(ev("/timezone Mars/Olympus")))[0]
    assert bad.error is ErrorCode.VALIDATION_ERROR and "Mars/Olympus" in bad.text
    good = (await core.router.handle(ev("/timezone America/New_York")))[0]
    assert "America/New_York" in good.text
    profile = await core.profiles.get(aid)
    assert profile is not None and profile.lang == "en" and profile.tz == "America/New_York"
    assert (await core.router.handle(ev("/language fr")))[0].error is ErrorCode.VALIDATION_ERROR


async def test_delete_asks_first_then_erases_the_whole_account(core: Core) -> None:
    aid = (await onboard(core, "tg:500")).uid
    await core.sessions.put(aid, "ask", {"turns": []}, 60)
    unconfirmed = (await core.router.handle(ev("/delete confirm")))[0]
    assert "먼저 /delete" in unconfirmed.text
    assert await core.profiles.get(aid) is not None
    ask = (await core.router.handle(ev("/delete")))[0]
    assert [b.command for b in ask.all_buttons()] == ["/delete confirm", "/cancel"]
    assert "텔레그램 500" in ask.text  # names every linked identity before erasing
    done = (await core.router.handle(ev("/delete confirm")))[0]
    assert "모든 정보를 지웠어요" in done.text
    assert await core.profiles.get(aid) is None
    assert await core.accounts.lookup("tg:500") is None
    assert await core.store.redis.exists(K.session(aid, "ask"), K.account_meta(aid)) == 0
    # The ledger stays, anonymous (nothing maps to the account id any more), and reconciles.
    assert await core.ledger.balance(aid) == 3
    assert await core.ledger.reconcile_all() == []


async def test_unknown_command_and_plain_text_get_a_hint(core: Core) -> None:
    unknown = (await core.router.handle(ev("/horoscope")))[0]
    assert "/help" in unknown.text and unknown.error is None
    text = (await core.router.handle(ev("안녕하세요")))[0]
    assert "/fortune" in text.text


# --- encryption keys: field binding, legacy values, rotation, the start-up check ---------------

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def legacy_v1(key: bytes, plaintext: str, owner: str) -> str:
    """A value exactly as the first release wrote it (associated data = owner, no key id)."""
    nonce = os.urandom(12)
    return "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext.encode(),
                                                                          owner.encode())).decode()


@pytest.fixture
async def two_cores(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Core, Core]]:
    """A core with only the old key A, and one after rotation began: keys B (current), A."""
    old = make_core(redis_url, tmp_path, profile_encryption_key="", profile_encryption_keys=b64(KEY_A))
    new = make_core(redis_url, tmp_path, profile_encryption_key="",
                    profile_encryption_keys=f"{b64(KEY_B)},{b64(KEY_A)}")
    yield old, new
    await old.store.close()
    await new.store.close()


async def test_birth_date_and_time_cannot_be_swapped(core: Core) -> None:
    profile = await onboard(core, AID, birth=date(1990, 5, 17))
    await core.profiles.update(profile, birth_time="07:30")
    raw = await core.store.redis.hgetall(K.profile(AID))
    await core.store.redis.hset(K.profile(AID), mapping={"b": raw["bt"], "bt": raw["b"]})
    swapped = await core.profiles.get(AID)
    assert swapped is not None and swapped.birth is None and swapped.birth_time is None
    await core.store.redis.hset(K.profile(AID), mapping=raw)
    back = await core.profiles.get(AID)
    assert back is not None and back.birth == date(1990, 5, 17) and back.birth_time == "07:30"


async def test_legacy_v1_profiles_are_still_read(core: Core) -> None:
    await onboard(core, AID)
    await core.store.redis.hset(K.profile(AID), mapping={
        "birth": legacy_v1(base64.urlsafe_b64decode(TEST_KEY), "1985-12-22", AID),
        "birth_time": legacy_v1(base64.urlsafe_b64decode(TEST_KEY), "23:10", AID)})
    profile = await core.profiles.get(AID)
    assert profile is not None and profile.birth == date(1985, 12, 22) and profile.birth_time == "23:10"
    assert profile.onboarded


async def _seed(core: Core, n: int) -> dict[str, date]:
    """``n`` onboarded profiles with a birth date and a birth time ("HH:15", HH = i % 24)."""
    births = {}
    for i in range(n):
        birth = date(1960 + i % 40, 1 + i % 12, 1 + i % 28)
        profile = await onboard(core, f"tg:{7000 + i}", birth=birth, bonus=False)
        births[profile.uid] = birth
        SEEDED_INDEX[profile.uid] = i
        await core.profiles.update(profile, birth_time=f"{i % 24:02d}:15")
    return births


#: An account id for tests that call the services directly.
AID = "a0000000000000500"

#: Account id -> seed index (``_seed``), for the birth time each one was given.
SEEDED_INDEX: dict[str, int] = {}


async def _kids(core: Core) -> set[str]:
    out = set()
    async for key in core.store.redis.scan_iter(match="profile:*", _type="hash"):
        raw = await core.store.redis.hgetall(key)
        for name in ("birth", "birth_time"):
            token = field_of(raw, name)
            if token:
                out.add(token.split(":")[1] if token.startswith("v2:") else "v1")
    return out


async def test_rotation_with_two_keys_is_resumable_and_idempotent(two_cores: tuple[Core, Core]) -> None:
    old, new = two_cores
    births = await _seed(old, 40)
    legacy = await onboard(old, "tg:6999", birth=date(1970, 1, 1), bonus=False)
    legacy_uid = legacy.uid  # one profile still in the first release's format
    await old.store.redis.hset(K.profile(legacy_uid), "birth", legacy_v1(KEY_A, "1971-02-03", legacy_uid))
    births[legacy_uid] = date(1971, 2, 3)
    assert legacy.uid == legacy_uid and await _kids(old) == {key_id(KEY_A), "v1"}

    class Interrupted(Exception):
        pass

    seen: list[RotationReport] = []

    def stop_once_some_are_done(report: RotationReport) -> None:
        if report.rewritten and report.cursor:
            seen.append(report)
            raise Interrupted  # as if the operator pressed Ctrl-C half way

    with pytest.raises(Interrupted):
        await new.profiles.rotate_keys(batch=10, progress=stop_once_some_are_done)
    assert 0 < seen[0].rewritten < len(births)
    half_way = await _kids(new)
    assert key_id(KEY_B) in half_way and half_way - {key_id(KEY_B)}  # part done, part left
    second = await new.profiles.rotate_keys(batch=10)
    assert second.rewritten > 0 and second.unreadable == second.unknown_key == second.busy == 0
    assert await _kids(new) == {key_id(KEY_B)}
    third = await new.profiles.rotate_keys(batch=10)
    assert third.rewritten == 0 and third.current == third.scanned == len(births)
    # The old key can now be dropped: a process with only key B reads everything.
    only_b = make_core(new.settings.env.redis_url or "", new.settings.env.data_dir, profile_encryption_key="",
                       profile_encryption_keys=b64(KEY_B))
    try:
        for uid, birth in births.items():
            profile = await only_b.profiles.get(uid)
            assert profile is not None and profile.birth == birth and profile.onboarded
            if uid != legacy_uid:
                assert profile.birth_time == f"{SEEDED_INDEX[uid] % 24:02d}:15"
        assert (await only_b.profiles.check_keys()).kids == {key_id(KEY_B): 2 * len(births) - 1}
    finally:
        await only_b.store.close()


async def test_rotation_never_loses_a_concurrent_edit(two_cores: tuple[Core, Core]) -> None:
    """A process not yet switched keeps writing with the old key (it can read the new one: keys
    A,B) while rotation runs: every profile ends with its last edit (WATCH/MULTI retries), and
    a deleted profile stays deleted."""
    _, new = two_cores
    old = make_core(new.settings.env.redis_url or "", new.settings.env.data_dir, profile_encryption_key="",
                    profile_encryption_keys=f"{b64(KEY_A)},{b64(KEY_B)}")
    births = await _seed(old, 6)
    second = list(births)[1]
    last: dict[str, date] = {}
    running = True

    async def keep_editing(uid: str, i: int) -> None:
        day = 0
        while running:
            day += 1
            profile = await old.profiles.get(uid)
            # Rotation may re-encrypt, never bring back an older value.
            assert profile is not None and profile.birth == last.get(uid, births[uid])
            last[uid] = date(2000 + i, 1, 1) + timedelta(days=day)
            await old.profiles.update(profile, birth=last[uid])

    editors = [asyncio.create_task(keep_editing(uid, i)) for i, uid in enumerate(births) if uid != second]
    reports = []
    for n in range(8):
        if n == 3:
            await new.profiles.delete(second)
        reports.append(await new.profiles.rotate_keys(batch=2))
    running = False
    await asyncio.gather(*editors)
    assert sum(r.rewritten for r in reports) > 0 and all(r.unreadable == r.unknown_key == 0 for r in reports)
    assert await new.store.redis.exists(K.profile(second)) == 0  # not recreated by a rewrite
    for uid in last:
        profile = await new.profiles.get(uid)
        assert profile is not None and profile.birth == last[uid], uid
    final = await new.profiles.rotate_keys()  # the editors have stopped: everything is rotated now
    assert final.busy == 0 and await _kids(new) == {key_id(KEY_B)}
    await old.store.close()


async def test_start_up_refuses_data_under_a_key_it_does_not_have(two_cores: tuple[Core, Core],
                                                                   redis_url: str, tmp_path: Path) -> None:
    old, new = two_cores
    await _seed(old, 5)
    assert (await new.profiles.check_keys()).kids == {key_id(KEY_A): 10}
    settings = settings_for(redis_url, tmp_path, profile_encryption_key="", profile_encryption_keys=b64(KEY_B))
    with pytest.raises(KeyCheckError, match=key_id(KEY_A)) as info:
        await build_core(settings)
    assert "PROFILE_ENCRYPTION_KEYS" in str(info.value)
    good = await build_core(settings_for(redis_url, tmp_path, profile_encryption_key="",
                                          profile_encryption_keys=f"{b64(KEY_B)},{b64(KEY_A)}"))
    await good.store.close()


async def test_start_up_refuses_legacy_data_after_the_key_was_changed(core: Core, redis_url: str,
                                                                      tmp_path: Path) -> None:
    aid = (await onboard(core, "tg:500")).uid
    await core.store.redis.hset(K.profile(aid), "birth", legacy_v1(KEY_A, "1990-05-17", aid))
    with pytest.raises(KeyCheckError, match="PROFILE_ENCRYPTION_KEY was changed"):
        await build_core(settings_for(redis_url, tmp_path, profile_encryption_key=b64(KEY_B)))
    fine = await build_core(settings_for(redis_url, tmp_path, profile_encryption_key="",
                                          profile_encryption_keys=f"{b64(KEY_B)},{b64(KEY_A)}"))
    assert (await fine.profiles.check_keys()).legacy_readable == 1
    await fine.store.close()


async def test_main_refuses_to_start_with_a_clear_message(two_cores: tuple[Core, Core], redis_url: str,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = two_cores
    await _seed(old, 2)
    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path), "PORT": "0",
                        "SIGNING_SECRET": "s", "PROFILE_ENCRYPTION_KEY": "",
                        "PROFILE_ENCRYPTION_KEYS": b64(KEY_B), "TELEGRAM_BOT_TOKEN": "",
                        "DISCORD_BOT_TOKEN": "", "SENTRY_DSN": ""}.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        code = await asyncio.to_thread(main_entry, "run")
    finally:
        root.handlers[:] = saved
    assert code == 2
    assert f"key id(s) {key_id(KEY_A)}" in capsys.readouterr().out


async def test_rotate_keys_command_prints_counts(two_cores: tuple[Core, Core], redis_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    old, new = two_cores
    births = await _seed(old, 3)
    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path),
                        "SIGNING_SECRET": "s", "PROFILE_ENCRYPTION_KEY": "",
                        "PROFILE_ENCRYPTION_KEYS": f"{b64(KEY_B)},{b64(KEY_A)}"}.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        first = await asyncio.to_thread(cli_main, ["rotate-keys", "--batch", "50"])
        again = await asyncio.to_thread(cli_main, ["rotate-keys"])
    finally:
        root.handlers[:] = saved
    out = capsys.readouterr().out
    assert first == again == 0
    assert f"done. scanned={len(births)} rewritten={len(births)} current=0" in out
    assert f"done. scanned={len(births)} rewritten=0 current={len(births)}" in out
    assert await _kids(new) == {key_id(KEY_B)}


async def test_a_value_under_a_missing_key_is_an_error_not_a_missing_birth_date(
        two_cores: tuple[Core, Core]) -> None:
    old, new = two_cores
    aid = (await onboard(new, "tg:500", birth=date(1990, 5, 17))).uid  # written with key B
    before = await new.store.redis.hgetall(K.profile(aid))
    reply = (await old.router.handle(ev("/credits")))[0]  # a process that only has key A
    assert reply.error is ErrorCode.INTERNAL_ERROR and "간단한 설정" not in reply.text  # no re-onboarding
    assert await old.store.redis.hgetall(K.profile(aid)) == before


async def test_profiles_in_the_long_name_layout_are_read_and_moved_field_by_field(core: Core) -> None:
    """A profile written before the short names: read as it is; ``create`` adds nothing over it;
    each update writes the short name and drops the long twin; rotation does the same."""
    aid = "a0000000000000777"
    birth = core.cipher.encrypt("1988-08-08", aid, "birth")
    old = {"lang": "en", "tz": "Europe/Berlin", "step": "done", "created": "1700000000",
           "terms_at": "1700000001", "share_at": "1700000002", "birth": birth, "name": "Mina"}
    r = core.store.redis
    await r.hset(K.profile(aid), mapping=old)
    profile = await core.profiles.get(aid)
    assert profile is not None and profile.onboarded and profile.birth == date(1988, 8, 8)
    assert (profile.lang, profile.tz, profile.created, profile.share_at, profile.display_name) == (
        "en", "Europe/Berlin", 1700000000, 1700000002, "Mina")
    await core.profiles.create(aid, "ko")  # a repeated /start: nothing shadows the old fields
    assert await r.hgetall(K.profile(aid)) == old
    profile = await core.profiles.update(profile, tz="Asia/Seoul")
    raw = await r.hgetall(K.profile(aid))
    assert raw["z"] == "Asia/Seoul" and "tz" not in raw and raw["lang"] == "en"
    assert (await core.profiles.get(aid)) == profile
    report = await core.profiles.rotate_keys()
    assert report.current == 1  # already under the current key: left alone
    await r.hset(K.profile(aid), "birth", legacy_v1(base64.urlsafe_b64decode(TEST_KEY), "1988-08-08", aid))
    await core.profiles.rotate_keys()
    raw = await r.hgetall(K.profile(aid))
    assert "birth" not in raw and raw["b"].startswith("v2:")
    assert (await core.profiles.get(aid)) == profile
