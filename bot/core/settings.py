"""One typed, frozen settings object: environment variables plus ``config/defaults.toml``.

``load_settings()`` is the only place the environment is read. An invalid value raises
``SettingsError`` naming the variable, and ``APP_ENV=production`` refuses to start without
``REDIS_URL``, ``SIGNING_SECRET`` and ``PROFILE_ENCRYPTION_KEY`` (or ``PROFILE_ENCRYPTION_KEYS``).
Webhook mode (``TELEGRAM_WEBHOOK_URL``) refuses to start without ``TELEGRAM_WEBHOOK_SECRET``
or ``SIGNING_SECRET`` in every environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "EnvSettings", "Product", "Pack", "Limit", "ModelPrice", "SettingsError", "load_settings"]

_WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "defaults.toml"


#: Shortest signing secret production accepts (it keys every HMAC the bot makes).
MIN_SECRET_LENGTH = 24


class SettingsError(RuntimeError):
    """Configuration is invalid; the message names the variable."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pack(_Frozen):
    id: str
    credits: int = Field(gt=0)
    bonus: int = Field(ge=0)
    stars: int = Field(gt=0)
    krw: int = Field(ge=0)

    @property
    def total(self) -> int:
        return self.credits + self.bonus


class Limit(_Frozen):
    limit: int = Field(gt=0)
    window_seconds: int = Field(gt=0)


class CreditsConfig(_Frozen):
    welcome_bonus: int = Field(ge=0)
    max_amount: int = Field(gt=0)
    hold_deadline_seconds: int = Field(gt=0)
    idempotency_ttl_seconds: int = Field(gt=0)
    ledger_keep_entries: int = Field(default=200, ge=10, le=100_000)
    costs: dict[str, int]
    packs: tuple[Pack, ...]

    @field_validator("costs")
    @classmethod
    def _positive_costs(cls, v: dict[str, int]) -> dict[str, int]:
        for name, cost in v.items():
            if cost <= 0:
                raise ValueError(f"cost {name} must be positive")
        return v

    def pack(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)


class InvitesConfig(_Frozen):
    ttl_seconds: int = Field(gt=0)
    inviter_reward: int = Field(ge=0)
    invitee_reward: int = Field(ge=0)
    #: Inviter rewards paid per inviter per local day; later pairings that day pay the inviter
    #: nothing (they still pair). Env ``REFERRAL_REWARDS_PER_DAY``.
    referral_rewards_per_day: int = Field(default=5, ge=0)
    #: Optional HTTP landing page for invite codes off Telegram, ``{token}`` replaced.
    landing_url: str = ""


class StreaksConfig(_Frozen):
    milestones: dict[int, int]
    every_third: int = Field(ge=0)
    grace_days: int = Field(ge=0)


class SessionsConfig(_Frozen):
    ask_idle_seconds: int = Field(gt=0)
    ask_max_turns: int = Field(gt=0)


class ModelPrice(_Frozen):
    """A provider's price for one model, USD per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class AIConfig(_Frozen):
    connect_timeout_seconds: float = Field(gt=0, le=3)
    answer_timeout_seconds: float = Field(gt=0)
    #: The whole chain (every provider attempt) finishes within this, then the static text.
    total_budget_seconds: float = Field(default=15.0, gt=0)
    #: Provider spend per UTC day (USD) after which readings use the static text; 0 = no cap.
    daily_spend_cap_usd: float = Field(default=0.0, ge=0)
    #: model name (or prefix: "gpt-4o-mini" prices "gpt-4o-mini-2024-07-18") -> price
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    openai_model: str
    anthropic_model: str
    max_input_chars: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    breaker_window_seconds: int = Field(gt=0)
    breaker_min_calls: int = Field(gt=0)
    breaker_failure_rate: float = Field(gt=0, le=1)
    breaker_open_seconds: int = Field(gt=0)
    auth_failure_open_seconds: int = Field(gt=0)

    def price(self, *models: str | None) -> ModelPrice | None:
        """The price of the first of ``models`` that has one (exact name, else longest prefix)."""
        for model in models:
            if not model:
                continue
            if model in self.prices:
                return self.prices[model]
            prefixes = [k for k in self.prices if model.startswith(k)]
            if prefixes:
                return self.prices[max(prefixes, key=len)]
        return None


class OutboundConfig(_Frozen):
    """One platform's send limits (``[outbound.<platform>]``)."""

    global_per_second: int = Field(gt=0)
    chat_per_second: int = Field(gt=0)
    chat_window_seconds: int = Field(default=3, gt=0, le=60)
    group_per_minute: int = Field(gt=0)


class BroadcastConfig(_Frozen):
    default_time: str
    workers: int = Field(default=16, gt=0, le=1000)
    reserve_per_second: int = Field(default=2, ge=0)
    max_attempts: int = Field(default=5, gt=0)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    claim_min_idle_seconds: int = Field(default=120, gt=0)


class DeliveryConfig(_Frozen):
    """The durable inbox (received updates) and outbox (paid answers, notices)."""

    inbox_partitions: int = Field(default=16, gt=0, le=1024)
    #: A dead process's inbox partitions and outbox jobs are taken over after this long.
    takeover_seconds: float = Field(default=25.0, gt=0)
    #: Outbox: how long transient send failures are retried before the hold is released.
    retry_seconds: float = Field(default=900.0, gt=0)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    workers: int = Field(default=32, gt=0, le=1000)
    #: A finished job is kept this long (dedupe of re-handled updates, ops look-ups).
    keep_seconds: int = Field(default=86400, gt=0)
    #: SIGTERM: finish or hand back held work within this many seconds, then exit.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    #: Intake of a money-bearing update (a Stars payment) waits this long for a replica to
    #: have it before the platform is told; at most 2500 (under the 3 s socket timeout).
    replica_wait_ms: int = Field(default=1000, gt=0, le=2500)


class ProfileConfig(_Frozen):
    default_timezone: str


class SajuConfig(_Frozen):
    """사주 options (prices are in ``credits.costs``: ``saju_reading``, ``newyear_detailed``)."""

    #: The daily fortune takes the day's 일진 against the user's 일간 as an input.
    daily_fortune_uses_chart: bool = True
    #: From this month on, /newyear shows the coming year and the daily push points to it once.
    newyear_season_month: int = Field(default=12, ge=1, le=12)


class AlertsConfig(_Frozen):
    """Alert thresholds and periods (``[alerts]``; evaluated by ``bot.core.ops.alerts``)."""

    response_time_ms: int = Field(gt=0)
    error_rate: float = Field(gt=0, le=1)
    #: Latency and error rate are judged over this window, and only with enough requests.
    window_seconds: int = Field(default=300, gt=0, le=3600)
    min_requests: int = Field(default=20, ge=1)
    #: AI answers given by the static fallback within the window that count as "fallback active".
    ai_fallback_min: int = Field(default=3, ge=1)
    #: The broadcast is behind when a subscriber's send time passed this long ago unqueued.
    broadcast_behind_minutes: int = Field(default=15, gt=0)
    #: A condition must hold this long before the alert fires (and clear this long to resolve).
    pending_seconds: float = Field(default=120.0, ge=0)
    #: A firing alert nobody acknowledged is posted again after this long.
    renotify_seconds: float = Field(default=1800.0, gt=0)
    #: How often each process evaluates (only the lease holder acts) and the lease's length.
    eval_seconds: float = Field(default=15.0, gt=0)
    lease_seconds: float = Field(default=45.0, gt=0)
    #: Durations offered by the Silence button.
    silence_presets: tuple[str, ...] = ("30m", "2h", "1d")


class OpsConfig(_Frozen):
    """``[ops]``: the audit log, confirmations, cross-process metrics and incidents."""

    audit_retention_days: int = Field(default=400, gt=0)
    confirm_seconds: int = Field(default=60, gt=0, le=3600)
    #: Each process adds its request counters to the shared per-minute buckets this often.
    metrics_flush_seconds: float = Field(default=5.0, gt=0)
    #: Per-minute buckets are kept this long (the chart and the alerts read them).
    metrics_keep_hours: int = Field(default=48, gt=0)
    chart_hours: int = Field(default=6, gt=0, le=48)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: Response times per severity in minutes (P3: the next business day, below).
    response_minutes: dict[str, int] = Field(default_factory=lambda: {"P0": 15, "P1": 60, "P2": 240})
    business_timezone: str = "Asia/Seoul"
    business_start: str = "09:00"
    #: Public holidays (YYYY-MM-DD) that are not business days.
    holidays: tuple[str, ...] = ()
    #: An incident past its deadline and still unacknowledged is reminded at this interval.
    remind_seconds: float = Field(default=900.0, gt=0)


class Product(_Frozen):
    """The product's tunable numbers from ``config/defaults.toml``."""

    credits: CreditsConfig
    limits: dict[str, Limit]
    invites: InvitesConfig
    streaks: StreaksConfig
    sessions: SessionsConfig
    ai: AIConfig
    broadcast: BroadcastConfig
    #: Platform ("tg", "dc") -> its send limits.
    outbound: dict[str, OutboundConfig]
    profile: ProfileConfig
    alerts: AlertsConfig
    delivery: DeliveryConfig = DeliveryConfig()
    ops: OpsConfig = OpsConfig()
    saju: SajuConfig = SajuConfig()


class EnvSettings(BaseSettings):
    """Environment variables, names as in PRODUCT.md "Configuration" and the runbook."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    app_env: Literal["development", "production", "test"] = "development"
    port: int = Field(default=8787, ge=0, le=65535)
    data_dir: Path = Path("data")
    redis_url: str | None = None
    #: Start even though Redis may evict keys or has no append-only file (production refuses
    #: otherwise; bot/core/store/safety.py).
    redis_allow_unsafe: bool = False
    signing_secret: str | None = None
    profile_encryption_key: str | None = None
    #: Comma separated, current key first, older keys after (they only decrypt).
    profile_encryption_keys: str | None = None
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    openai_base_url: str | None = None
    anthropic_base_url: str | None = None
    openai_model: str | None = None
    anthropic_model: str | None = None
    sentry_dsn: str | None = None
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    #: PTB's HTTP transport (bot/handlers/telegram/request.py): aiohttp (default) or PTB's stock httpx.
    telegram_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    discord_bot_token: str | None = None
    #: Discord REST base including the API version (a REST proxy in production, a fake in tests).
    discord_api_base_url: str = "https://discord.com/api/v10"
    #: The gateway to connect to; None: the URL Discord's /gateway/bot returns.
    discord_gateway_url: str | None = None
    #: Total shards of the bot (all processes); None: one shard, or Discord's recommendation.
    discord_shard_count: int | None = Field(default=None, gt=0)
    #: The shards this process runs, e.g. "0,1" (empty: all of DISCORD_SHARD_COUNT).
    discord_shard_ids: str = ""
    #: Sync slash commands to this one guild (instant, for development) instead of globally.
    discord_dev_guild_id: int | None = Field(default=None, gt=0)
    #: The one guild where ``/ops`` is registered (administrators only; never a global command).
    discord_ops_guild_id: int | None = Field(default=None, gt=0)
    #: The Slack ops surface (``bot/handlers/slack``) starts when both are set.
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    #: Slack's Web API; tests point it at a local fake (``tests/fakes/slack_api.py``).
    slack_api_base_url: str = "https://slack.com/api/"
    ops_admins: str = ""
    ops_channels: str = ""
    invite_limit_per_ip: int | None = Field(default=None, gt=0)
    invite_limit_per_user: int | None = Field(default=None, gt=0)
    reward_limit_per_user: int | None = Field(default=None, gt=0)
    referral_rewards_per_day: int | None = Field(default=None, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    config_file: Path | None = None

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        # Forms: redis://, rediss://, unix://, redis+cluster://, rediss+cluster://,
        # redis+sentinel:// (bot/core/store/urls.py). Imported here: the store imports settings.
        from bot.core.store.urls import parse_redis_url

        parse_redis_url(v)  # ValueError names the problem (never the URL: it may hold a password)
        return v.strip()

    @field_validator("discord_shard_count", "discord_dev_guild_id", "discord_ops_guild_id", mode="before")
    @classmethod
    def _blank_int_is_none(cls, v: object) -> object:
        return None if v is None or (isinstance(v, str) and v.strip() == "") else v

    @field_validator("discord_api_base_url")
    @classmethod
    def _discord_api_base(cls, v: str) -> str:
        v = (v or "").strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL including the API version, e.g. https://discord.com/api/v10")
        return v

    @field_validator("discord_shard_ids")
    @classmethod
    def _discord_shard_ids(cls, v: str) -> str:
        parts = [p.strip() for p in (v or "").split(",") if p.strip()]
        if any(not p.isdigit() for p in parts):
            raise ValueError("must be comma separated shard numbers, e.g. 0,1")
        return ",".join(str(int(p)) for p in parts)

    @model_validator(mode="after")
    def _discord_shards(self) -> EnvSettings:
        ids = self.discord_shard_id_list
        if ids and self.discord_shard_count is None:
            raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT")
        if ids and self.discord_shard_count is not None and max(ids) >= self.discord_shard_count:
            raise ValueError("DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT")
        if len(set(ids)) != len(ids):
            raise ValueError("DISCORD_SHARD_IDS lists a shard twice")
        return self

    @property
    def discord_shard_id_list(self) -> list[int]:
        """This process's shards (``DISCORD_SHARD_IDS``); empty: every shard of the count."""
        return [int(p) for p in self.discord_shard_ids.split(",") if p]

    @field_validator("redis_allow_unsafe", mode="before")
    @classmethod
    def _blank_is_false(cls, v: object) -> object:
        return False if v is None or (isinstance(v, str) and v.strip() == "") else v

    @field_validator("slack_api_base_url", mode="before")
    @classmethod
    def _slack_base(cls, v: object) -> object:
        # slack_sdk joins method names onto the base: it must end with "/". Blank = Slack's.
        if v is None or (isinstance(v, str) and v.strip() == ""):
            return "https://slack.com/api/"
        return v.strip().rstrip("/") + "/" if isinstance(v, str) else v

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_charset(cls, v: str | None) -> str | None:
        # Telegram's setWebhook accepts 1-256 characters of A-Z a-z 0-9 _ -
        if v is not None and v.strip() and not _WEBHOOK_SECRET_RE.fullmatch(v.strip()):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ -")
        return v

    @field_validator(
        "signing_secret", "profile_encryption_key", "profile_encryption_keys", "openai_api_key",
        "anthropic_api_key",
        "sentry_dsn", "telegram_bot_token", "telegram_webhook_url", "discord_bot_token",
        "discord_gateway_url", "openai_base_url", "anthropic_base_url", "openai_model", "anthropic_model",
        "telegram_webhook_secret", "slack_bot_token", "slack_signing_secret",
    )
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return None if v is None or v.strip() == "" else v.strip()


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with: env plus product numbers."""

    env: EnvSettings
    product: Product
    ops_admins: frozenset[str] = field(default_factory=frozenset)
    ops_channels: frozenset[str] = field(default_factory=frozenset)

    @property
    def production(self) -> bool:
        return self.env.app_env == "production"

    def limit(self, scope: str) -> Limit:
        return self.product.limits[scope]

    def cost(self, name: str) -> int:
        return self.product.credits.costs[name]


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _validation_message(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors():
        name = ".".join(str(x) for x in e["loc"])
        parts.append(f"{prefix}{name.upper() if not prefix else name}: {e['msg']}")
    return "; ".join(parts)


def _check_cross_section(product: Product) -> None:
    """Rules that tie two config sections together; raises ``SettingsError``."""
    ai, credits = product.ai, product.credits
    # A hold (and the in-flight lock of a paid reading) must outlive the whole AI chain, or
    # the sweeper could release a hold while its answer is still being written.
    if credits.hold_deadline_seconds < ai.total_budget_seconds + 10:
        raise SettingsError(
            f"invalid config: credits.hold_deadline_seconds ({credits.hold_deadline_seconds}) must be at least "
            f"ai.total_budget_seconds ({ai.total_budget_seconds:g}) + 10, so a hold outlives the whole AI chain")
    if ai.daily_spend_cap_usd > 0:
        unpriced = [m for m in (ai.openai_model, ai.anthropic_model) if ai.price(m) is None]
        if unpriced:
            raise SettingsError(
                f"invalid config: ai.daily_spend_cap_usd is set but ai.prices has no price for "
                f"{', '.join(unpriced)} (add [ai.prices.\"<model>\"] input_per_mtok / output_per_mtok)")
    if product.delivery.takeover_seconds < ai.total_budget_seconds + 5:
        raise SettingsError(
            f"invalid config: delivery.takeover_seconds ({product.delivery.takeover_seconds:g}) must be at least "
            f"ai.total_budget_seconds ({ai.total_budget_seconds:g}) + 5, or a slow AI answer would be taken over "
            "while it runs")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read env (or ``environ`` for tests) and the product config; validate everything.

    Raises ``SettingsError`` with the offending variable's name.
    """
    env_map = dict(os.environ if environ is None else environ)
    try:
        # pydantic-settings reads os.environ; pass an explicit mapping through init kwargs.
        known = {k.lower(): v for k, v in env_map.items() if k.lower() in EnvSettings.model_fields}
        env = EnvSettings.model_validate(known) if environ is not None else EnvSettings()
    except ValidationError as err:
        raise SettingsError(f"invalid environment: {_validation_message(err)}") from err

    config_path = env.config_file or DEFAULT_CONFIG
    try:
        raw: dict[str, Any] = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"cannot read config file {config_path}: {err}") from err

    # Env overrides for the limits the runbook names.
    limits = raw.setdefault("limits", {})
    for var, scope in (
        ("invite_limit_per_user", "invite_user"),
        ("invite_limit_per_ip", "invite_ip"),
        ("reward_limit_per_user", "reward"),
    ):
        value = getattr(env, var)
        if value is not None:
            limits.setdefault(scope, {})["limit"] = value
    if env.referral_rewards_per_day is not None:
        raw.setdefault("invites", {})["referral_rewards_per_day"] = env.referral_rewards_per_day
    ai = raw.setdefault("ai", {})
    if env.openai_model:
        ai["openai_model"] = env.openai_model
    if env.anthropic_model:
        ai["anthropic_model"] = env.anthropic_model
    if "streaks" in raw and "milestones" in raw["streaks"]:
        raw["streaks"]["milestones"] = {int(k): v for k, v in raw["streaks"]["milestones"].items()}
    try:
        product = Product.model_validate(raw)
    except ValidationError as err:
        raise SettingsError(f"invalid config {config_path}: {_validation_message(err, prefix='')}") from err
    from bot.core.timezones import canonical_timezone

    default_tz = product.profile.default_timezone
    try:
        ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise SettingsError(f"invalid config: profile.default_timezone {default_tz!r}") from err
    if canonical_timezone(default_tz) != default_tz:
        raise SettingsError(f"invalid config: profile.default_timezone {default_tz!r} is not a canonical "
                            f"IANA zone (use {canonical_timezone(default_tz)!r})")

    _check_cross_section(product)

    if env.app_env == "production":
        missing = [
            name.upper()
            for name in ("redis_url", "signing_secret", "profile_encryption_key")
            if not getattr(env, name)
            and not (name == "profile_encryption_key" and env.profile_encryption_keys)
        ]
        if missing:
            raise SettingsError(f"APP_ENV=production requires {', '.join(missing)}")
        if env.signing_secret and len(env.signing_secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"SIGNING_SECRET must be at least {MIN_SECRET_LENGTH} characters in production "
                                "(generate one: python3 -c \"import secrets;print(secrets.token_urlsafe(32))\")")
    if env.telegram_webhook_url and not (env.telegram_webhook_secret or env.signing_secret):
        # Whatever APP_ENV says: an unauthenticated webhook would accept forged updates
        # (including forged successful payments).
        raise SettingsError("webhook mode (TELEGRAM_WEBHOOK_URL) requires TELEGRAM_WEBHOOK_SECRET "
                            "or SIGNING_SECRET")
    return Settings(
        env=env,
        product=product,
        ops_admins=_csv(env.ops_admins),
        ops_channels=_csv(env.ops_channels),
    )
