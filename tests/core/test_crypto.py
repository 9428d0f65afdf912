"""Field encryption: owner and field binding, key ids, several keys, legacy v1 values, key loading."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.core.crypto import FieldCipher, UnknownKeyId, key_id, load_keys, load_or_create_dev_key
from bot.core.settings import SettingsError
from tests.support.factory import test_settings as settings_for

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def legacy_v1(key: bytes, plaintext: str, owner: str) -> str:
    """A value exactly as the first release wrote it: associated data = owner only, no key id."""
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), owner.encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + ct).decode()


def test_values_carry_the_key_id_and_round_trip() -> None:
    cipher = FieldCipher([KEY_A])
    token = cipher.encrypt("1990-05-17", "tg:1", "birth")
    version, kid, body = token.split(":", 2)
    assert (version, kid) == ("v2", key_id(KEY_A)) and len(kid) == 8 and "1990" not in body
    assert cipher.decrypt(token, "tg:1", "birth") == "1990-05-17"
    assert cipher.encrypt("1990-05-17", "tg:1", "birth") != token  # a fresh nonce each time


def test_a_value_is_bound_to_its_owner_and_its_field() -> None:
    cipher = FieldCipher([KEY_A])
    birth = cipher.encrypt("1990-05-17", "tg:1", "birth")
    time_ = cipher.encrypt("07:30", "tg:1", "birth_time")
    assert cipher.decrypt(birth, "tg:1", "birth_time") is None  # swapped between fields
    assert cipher.decrypt(time_, "tg:1", "birth") is None
    assert cipher.decrypt(birth, "tg:2", "birth") is None  # copied to another owner
    assert cipher.decrypt(birth[:-4] + "AAAA", "tg:1", "birth") is None  # altered
    assert cipher.decrypt("garbage", "tg:1", "birth") is None


def test_two_keys_encrypt_with_the_first_and_decrypt_with_either() -> None:
    old = FieldCipher([KEY_A])
    written_before = old.encrypt("1990-05-17", "tg:1", "birth")
    both = FieldCipher([KEY_B, KEY_A])
    assert both.kids == (key_id(KEY_B), key_id(KEY_A)) and both.current_kid == key_id(KEY_B)
    assert both.decrypt(written_before, "tg:1", "birth") == "1990-05-17"
    assert both.needs_rotation(written_before)
    written_now = both.encrypt("1991-03-21", "tg:1", "birth")
    assert written_now.startswith(f"v2:{key_id(KEY_B)}:") and not both.needs_rotation(written_now)
    # A process with only the new key does not read the old value as "no birth date": it says so.
    only_new = FieldCipher([KEY_B])
    with pytest.raises(UnknownKeyId) as info:
        only_new.decrypt(written_before, "tg:1", "birth")
    assert info.value.kid == key_id(KEY_A)
    with pytest.raises(UnknownKeyId):
        old.decrypt(written_now, "tg:1", "birth")


def test_legacy_v1_values_still_decrypt_with_any_configured_key() -> None:
    token = legacy_v1(KEY_A, "1990-05-17", "tg:1")
    assert FieldCipher([KEY_A]).decrypt(token, "tg:1", "birth") == "1990-05-17"
    assert FieldCipher([KEY_B, KEY_A]).decrypt(token, "tg:1", "birth") == "1990-05-17"
    assert FieldCipher([KEY_B, KEY_A]).describe(token) == ("v1", None)
    assert FieldCipher([KEY_A]).needs_rotation(token)
    assert FieldCipher([KEY_B]).decrypt(token, "tg:1", "birth") is None  # the key is gone
    assert FieldCipher([KEY_A]).decrypt(token, "tg:2", "birth") is None  # still owner-bound


def test_load_keys_from_the_environment(tmp_path: Path) -> None:
    env = settings_for("redis://x", tmp_path, profile_encryption_key="",
                       profile_encryption_keys=f"{b64(KEY_B)}, {KEY_A.hex()}").env
    assert load_keys(env) == [KEY_B, KEY_A]
    one = settings_for("redis://x", tmp_path, profile_encryption_key=b64(KEY_A)).env
    assert load_keys(one) == [KEY_A]
    both = settings_for("redis://x", tmp_path, profile_encryption_key=b64(KEY_A),
                        profile_encryption_keys=f"{b64(KEY_B)},{b64(KEY_A)}").env
    assert load_keys(both) == [KEY_B, KEY_A]
    disagree = settings_for("redis://x", tmp_path, profile_encryption_key=b64(KEY_A),
                            profile_encryption_keys=b64(KEY_B)).env
    with pytest.raises(SettingsError, match="PROFILE_ENCRYPTION_KEY is not one of"):
        load_keys(disagree)
    bad = settings_for("redis://x", tmp_path, profile_encryption_keys=f"{b64(KEY_B)},short").env
    with pytest.raises(SettingsError, match="PROFILE_ENCRYPTION_KEYS entry 2"):
        load_keys(bad)


def test_production_accepts_the_key_list(tmp_path: Path) -> None:
    settings = settings_for("redis://x", tmp_path, app_env="production", profile_encryption_key="",
                            profile_encryption_keys=b64(KEY_A))
    assert settings.production and load_keys(settings.env) == [KEY_A]
    with pytest.raises(SettingsError, match="PROFILE_ENCRYPTION_KEY"):
        settings_for("redis://x", tmp_path, app_env="production", profile_encryption_key="")


def test_the_dev_key_file_is_private_from_creation(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # a permissive umask must not matter: the mode is given at creation
    try:
        key = load_or_create_dev_key(tmp_path / "data")
    finally:
        os.umask(old_umask)
    path = tmp_path / "data" / "profile.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_dev_key(tmp_path / "data") == key  # kept, not replaced
    env = settings_for("redis://x", tmp_path / "data", profile_encryption_key="").env
    assert load_keys(env) == [key]


def test_a_dev_key_file_left_readable_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "profile.key"
    path.write_text(b64(KEY_A))
    path.chmod(0o644)
    assert load_or_create_dev_key(tmp_path) == KEY_A
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_processes_starting_together_share_one_dev_key(tmp_path: Path) -> None:
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create_dev_key(tmp_path)))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(keys) == 8 and len(set(keys)) == 1
