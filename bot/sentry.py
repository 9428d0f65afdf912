"""Sentry set-up: personal data is redacted before anything leaves the process.

- Every event and breadcrumb passes ``bot.core.redact`` (the same rules as the JSON logs):
  user ids become keyed pseudonyms in every field (extra, breadcrumbs, tags, contexts,
  messages, exception values), dates in any common format become ``[date]``, token shapes
  and secret-named fields are dropped. Inside a pairing (``pair_scope``) ids are hidden.
- The Redis integration is off: its breadcrumbs name keys, and keys name users (a pair
  key names both people of a pair).
- One event per failure: the logging integration only records breadcrumbs; ERROR log lines
  become events through our own handler, which skips lines marked ``captured=True``
  (their caller sends the exception with ``Core.capture_exception``, with its tags).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.core.logs import CAPTURED_ATTR
from bot.core.redact import redact_value
from bot.core.settings import Settings

__all__ = ["init_sentry", "scrub_event", "scrub_breadcrumb", "close_sentry"]


#: The SDK's own times (ISO strings by the time ``before_send`` runs) are not personal dates.
_KEEP = frozenset({"timestamp", "start_timestamp"})


def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """The event with ids pseudonymised, dates, tokens and secret-named fields removed."""
    return redact_value(None, event, keep=_KEEP)


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    return redact_value(None, crumb, keep=_KEEP)


class _NotCaptured(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, CAPTURED_ATTR, False)


def _event_handler() -> logging.Handler:
    from sentry_sdk.integrations.logging import EventHandler

    handler = EventHandler(level=logging.ERROR)
    handler.addFilter(_NotCaptured())
    handler.keep_on_reconfigure = True  # type: ignore[attr-defined]
    return handler


def close_sentry() -> None:
    """Flush and stop Sentry and remove its log handler (shutdown, tests)."""
    import sentry_sdk
    from sentry_sdk.integrations.logging import EventHandler

    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, EventHandler)]
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


def init_sentry(settings: Settings, transport: Any = None) -> bool:
    """Start Sentry when ``SENTRY_DSN`` is set (``transport``: tests record envelopes)."""
    if not settings.env.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import EventHandler, LoggingIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    from bot import __version__

    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=settings.env.sentry_dsn,
        environment=settings.env.app_env,
        release=f"soul-lab-bot@{__version__}",
        send_default_pii=False,
        include_local_variables=False,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
        disabled_integrations=[RedisIntegration],
        **options,
    )
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, EventHandler)] + [_event_handler()]
    return True
