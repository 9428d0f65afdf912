"""JSON-lines logging with one event name per line and a request id per incoming update.

Never pass a birth date, token or key to ``log_event``. As a second line of defence every
field is redacted before the record is made (``bot.core.redact``): user ids in id-named
fields (``user``, ``account``, ``inviter`` …) and platform ids in any text become keyed
pseudonyms (``u_`` + 12 hex), dates in any common format become ``[date]``, fields whose
names look secret become ``[scrubbed]``. The formatter redacts again what other libraries
log (message and traceback text). Inside ``pair_scope()`` ids are hidden instead, so the
lines of one pairing never name both people.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

from bot.core.ids import random_hex
from bot.core.redact import pair_scope, redact_fields, scrub_text

__all__ = ["configure_logging", "log_event", "request_id_var", "new_request_id", "logger", "pair_scope",
           "CAPTURED_ATTR"]

logger = logging.getLogger("soul_lab")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

#: Set on a log record whose exception the caller sends to Sentry itself (see ``bot/sentry.py``).
CAPTURED_ATTR = "sentry_captured"


def new_request_id() -> str:
    return random_hex(6)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or scrub_text(record.getMessage()),
        }
        rid = request_id_var.get()
        if rid:
            payload["request_id"] = rid
        fields = getattr(record, "fields", None)
        if fields:
            payload.update(redact_fields(fields))
        if record.exc_info:
            payload["exc"] = scrub_text(self.formatException(record.exc_info))
        if record.name != "soul_lab" and not getattr(record, "event", None):
            payload["logger"] = record.name
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """JSON lines to stderr (stdout belongs to the console chat).

    Replaces the root handlers, keeping only those marked ``keep_on_reconfigure``
    (the Sentry event handler).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if getattr(h, "keep_on_reconfigure", False)] + [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "telegram.ext", "discord", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def log_event(event: str, level: int = logging.INFO, exc_info: bool = False, *, captured: bool = False,
              **fields: Any) -> None:
    """Log one named event (``redis_connection_error``, ``command_handled``, ``ai_request`` …).

    Fields are redacted here, so every handler (the JSON lines, Sentry breadcrumbs and
    events) sees pseudonyms only. ``captured=True``: the caller sends this exception to
    Sentry itself (``Core.capture_exception``), so the log line must not make a second event.
    """
    if not logger.isEnabledFor(level):
        return  # below the level: no redaction work (nothing would see the record)
    extra: dict[str, Any] = {"event": event, "fields": redact_fields(fields)}
    if captured:
        extra[CAPTURED_ATTR] = True
    logger.log(level, event, extra=extra, exc_info=exc_info)
