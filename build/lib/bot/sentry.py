"""Sentry set-up with personal data scrubbed before anything leaves the process."""

from __future__ import annotations

import re
from typing import Any

from bot.core.settings import Settings

__all__ = ["init_sentry", "scrub_event"]

_DATE = re.compile(r"\b(19|20)\d{2}-\d{2}-\d{2}\b")
_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b|\bsk-[A-Za-z0-9_-]{10,}\b")
_SENSITIVE = ("birth", "token", "secret", "password", "api_key", "encryption", "authorization", "cookie")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _TOKEN.sub("[token]", _DATE.sub("[date]", value))
    if isinstance(value, dict):
        return {k: "[scrubbed]" if any(s in str(k).lower() for s in _SENSITIVE) else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Drop birth dates (any YYYY-MM-DD), tokens and sensitive fields from an event."""
    return _scrub(event)  # type: ignore[no-any-return]


def init_sentry(settings: Settings) -> bool:
    if not settings.env.sentry_dsn:
        return False
    import sentry_sdk

    from bot import __version__

    sentry_sdk.init(
        dsn=settings.env.sentry_dsn,
        environment=settings.env.app_env,
        release=f"soul-lab-bot@{__version__}",
        send_default_pii=False,
        include_local_variables=False,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=lambda crumb, hint: _scrub(crumb),
    )
    return True
