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
                        "SIGNING_SECRET": "s" * 32, "PROFILE_ENCRYPTION_KEY": "k" * 43})
    assert ok.production


def test_a_broken_config_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    source = Path(__file__).resolve().parents[2] / "config" / "defaults.toml"
    cfg.write_text(source.read_text().replace("ai_chat = 1", "ai_chat = -1"))
    with pytest.raises(SettingsError) as info:
        load_settings({"CONFIG_FILE": str(cfg)})
    assert "ai_chat" in str(info.value)


def _config_with(tmp_path: Path, *replacements: tuple[str, str]) -> str:
    source = Path(__file__).resolve().parents[2] / "config" / "defaults.toml"
    text = source.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    cfg = tmp_path / "custom.toml"
    cfg.write_text(text)
    return str(cfg)


def test_ai_budget_hold_deadline_and_spend_cap_defaults() -> None:
    s = load_settings({})
    ai = s.product.ai
    assert ai.total_budget_seconds == 15 and s.product.credits.hold_deadline_seconds == 45
    assert ai.answer_timeout_seconds <= ai.total_budget_seconds
    assert ai.daily_spend_cap_usd > 0
    # Both default models are priced; a dated model name uses the longest configured prefix.
    assert ai.price(ai.openai_model) is not None and ai.price(ai.anthropic_model) is not None
    dated = ai.price("gpt-4o-mini-2024-07-18")
    assert dated is not None and (dated.input_per_mtok, dated.output_per_mtok) == (0.15, 0.60)
    assert ai.price("some-other-model") is None


def test_hold_deadline_must_outlive_the_ai_budget(tmp_path: Path) -> None:
    cfg = _config_with(tmp_path, ("hold_deadline_seconds = 45", "hold_deadline_seconds = 24"))
    with pytest.raises(SettingsError) as info:
        load_settings({"CONFIG_FILE": cfg})
    msg = str(info.value)
    assert "credits.hold_deadline_seconds (24)" in msg and "ai.total_budget_seconds (15) + 10" in msg
    # Exactly budget + 10 is fine; a smaller budget allows a shorter deadline.
    ok = load_settings({"CONFIG_FILE": _config_with(tmp_path, ("hold_deadline_seconds = 45", "hold_deadline_seconds = 25"))})
    assert ok.product.credits.hold_deadline_seconds == 25
    ok = load_settings({"CONFIG_FILE": _config_with(tmp_path, ("hold_deadline_seconds = 45", "hold_deadline_seconds = 20"),
                                                    ("total_budget_seconds = 15.0", "total_budget_seconds = 10.0"))})
    assert ok.product.ai.total_budget_seconds == 10
    with pytest.raises(SettingsError, match="total_budget_seconds"):
        load_settings({"CONFIG_FILE": _config_with(tmp_path, ("total_budget_seconds = 15.0",
                                                              "total_budget_seconds = 40.0"))})


def test_spend_cap_needs_a_price_for_each_model(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"OPENAI_MODEL": "gpt-9-preview"})
    assert "gpt-9-preview" in str(info.value) and "ai.prices" in str(info.value)
    no_cap = _config_with(tmp_path, ("daily_spend_cap_usd = 20.0", "daily_spend_cap_usd = 0"))
    s = load_settings({"OPENAI_MODEL": "gpt-9-preview", "CONFIG_FILE": no_cap})
    assert s.product.ai.daily_spend_cap_usd == 0 and s.product.ai.openai_model == "gpt-9-preview"
    with pytest.raises(SettingsError, match="(?i)daily_spend_cap_usd"):
        load_settings({"CONFIG_FILE": _config_with(tmp_path, ("daily_spend_cap_usd = 20.0", "daily_spend_cap_usd = -1"))})

@pytest.mark.parametrize("app_env", ["development", "test", "production"])
def test_webhook_mode_refuses_to_start_without_a_secret(app_env: str) -> None:
    env = {"APP_ENV": app_env, "TELEGRAM_WEBHOOK_URL": "https://bot.example/tg/hook",
           "REDIS_URL": "redis://127.0.0.1:6379/0", "PROFILE_ENCRYPTION_KEY": "k" * 43}
    if app_env == "production":
        env["SIGNING_SECRET"] = ""  # production names it among its own requirements too
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert "SIGNING_SECRET" in str(info.value)
    if app_env != "production":
        assert "TELEGRAM_WEBHOOK_SECRET" in str(info.value)
    assert load_settings({**env, "TELEGRAM_WEBHOOK_SECRET": "abc_DEF-123", "SIGNING_SECRET": "s" * 32}).env.telegram_webhook_url
    if app_env != "production":
        assert load_settings({**env, "TELEGRAM_WEBHOOK_SECRET": "abc_DEF-123"}).env.telegram_webhook_secret
        assert load_settings({**env, "SIGNING_SECRET": "s"}).env.signing_secret == "s"


def test_webhook_secret_must_be_what_telegram_accepts() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"TELEGRAM_WEBHOOK_SECRET": "has spaces and $"})
    assert "TELEGRAM_WEBHOOK_SECRET" in str(info.value)


def test_referral_rewards_per_day_default_and_env_override() -> None:
    assert load_settings({}).product.invites.referral_rewards_per_day == 5
    assert load_settings({"REFERRAL_REWARDS_PER_DAY": "2"}).product.invites.referral_rewards_per_day == 2
    assert load_settings({"REFERRAL_REWARDS_PER_DAY": "0"}).product.invites.referral_rewards_per_day == 0
    with pytest.raises(SettingsError) as info:
        load_settings({"REFERRAL_REWARDS_PER_DAY": "-1"})
    assert "REFERRAL_REWARDS_PER_DAY" in str(info.value)


def test_default_timezone_must_be_a_canonical_iana_zone(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "config" / "defaults.toml"
    for bad in ("localtime", "Asia/Calcutta", "posix/Asia/Seoul"):
        cfg = tmp_path / "tz.toml"
        cfg.write_text(source.read_text().replace('default_timezone = "Asia/Seoul"', f'default_timezone = "{bad}"'))
        with pytest.raises(SettingsError) as info:
            load_settings({"CONFIG_FILE": str(cfg)})
        assert "default_timezone" in str(info.value)


def test_production_refuses_a_short_signing_secret() -> None:
    env = {"APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/0", "PROFILE_ENCRYPTION_KEY": "k" * 43}
    with pytest.raises(SettingsError) as info:
        load_settings({**env, "SIGNING_SECRET": "x"})
    assert "SIGNING_SECRET" in str(info.value)
    assert load_settings({**env, "SIGNING_SECRET": "s" * 32}).production
