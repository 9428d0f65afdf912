"""JSON-lines logging with one event name per line and a request id per incoming update.

Never pass a birth date, token or key to ``log_event``: the formatter also drops fields
whose names look sensitive, as a second line of defence.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from typing import Any

__all__ = ["configure_logging", "log_event", "request_id_var", "new_request_id", "logger"]

logger = logging.getLogger("soul_lab")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SENSITIVE = ("birth", "token", "secret", "password", "api_key", "encryption", "authorization")


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(s in lowered for s in _SENSITIVE)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            payload["request_id"] = rid
        fields = getattr(record, "fields", None)
        if fields:
            for k, v in fields.items():
                payload[k] = "[scrubbed]" if _is_sensitive(k) else v
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        if record.name != "soul_lab" and not getattr(record, "event", None):
            payload["logger"] = record.name
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """JSON lines to stderr (stdout belongs to the console chat)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "telegram.ext", "discord", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def log_event(event: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log one named event (``redis_connection_error``, ``command_handled``, ``ai_request`` …)."""
    logger.log(level, event, extra={"event": event, "fields": fields}, exc_info=exc_info)
