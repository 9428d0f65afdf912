"""Settings: typed env + config, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.settings import SettingsError, load_settings


def test_defaults_come_from_the_config_file() -> None:
    s = load_settings({})
    assert s.env.port == 8787 and s.env.app_env == "development"
    assert s.cost("tarot_interpret") == 2 and s.cost("detailed_report") == 5
    assert s.product.credits.welcome_bonus == 3
    assert [(p.id, p.total) for p in s.product.credits.packs] == [
        ("credit_10", 10), ("credit_50", 55), ("credit_150", 170), ("credit_500", 600)]
    assert s.limit("command").limit == 30 and s.limit("invite_ip").limit == 40


def test_runbook_env_vars_override_limits() -> None:
    s = load_settings({"INVITE_LIMIT_PER_IP": "100", "REWARD_LIMIT_PER_USER": "50", "OPS_ADMINS": "tg:1, dc:2"})
    assert s.limit("invite_ip").limit == 100 and s.limit("reward").limit == 50
    assert s.ops_admins == frozenset({"tg:1", "dc:2"})


@pytest.mark.parametrize("var,value", [
    ("PORT", "eighty"), ("PORT", "70000"), ("APP_ENV", "staging"), ("REDIS_URL", "http://x"),
    ("INVITE_LIMIT_PER_USER", "0"), ("REWARD_LIMIT_PER_USER", "many"),
])
def test_an_invalid_value_names_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({var: value})
    assert var in str(info.value)


def test_production_refuses_to_start_without_required_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert "SIGNING_SECRET" in str(info.value) and "PROFILE_ENCRYPTION_KEY" in str(info.value)
    assert "REDIS_URL" not in str(info.value)
    ok = load_settings({"APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/0",
                        "SIGNING_SECRET": "s", "PROFILE_ENCRYPTION_KEY": "k" * 43})
    assert ok.production


def test_a_broken_config_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    source = Path(__file__).resolve().parents[2] / "config" / "defaults.toml"
    cfg.write_text(source.read_text().replace("ai_chat = 1", "ai_chat = -1"))
    with pytest.raises(SettingsError) as info:
        load_settings({"CONFIG_FILE": str(cfg)})
    assert "ai_chat" in str(info.value)
