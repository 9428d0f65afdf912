"""What may leave the process in logs and Sentry events: ids pseudonymised, dates and secrets gone.

One set of rules shared by the JSON log formatter (``logs``) and the Sentry hooks
(``bot/sentry.py``):

- a field named like a user id (``user``, ``uid``, ``account``, ``inviter``, ``chat`` …) has
  every scalar inside it replaced by its keyed pseudonym (``pseudonym.pseudonym``);
- a platform user id inside any text (``tg:333``, ``profile:dc:42``) becomes its pseudonym;
- a date in any common format (``1990-05-17``, ``1990.05.17``, ``1990/05/17``, ``17.05.1990``,
  ``19900517``, ``1990년 5월 17일``) becomes ``[date]``; token shapes become ``[token]``;
- a field whose name looks secret (``birth…``, ``…token``, ``secret`` …) becomes ``[scrubbed]``.

Inside ``pair_scope()`` ids are not pseudonymised but hidden (``[hidden]``): the lines of a
pairing (an invitee accepting an invite, the inviter being rewarded and notified) must not
link the two people, and two pseudonyms in one request would. Everything here is pure and
idempotent (redacting twice gives the same result).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from bot.core.pseudonym import pseudonym

__all__ = ["ID_FIELDS", "is_id_field", "is_sensitive", "scrub_text", "redact_value", "redact_fields",
           "pair_scope", "ids_hidden", "HIDDEN", "DATE", "SCRUBBED"]

HIDDEN = "[hidden]"
DATE = "[date]"
SCRUBBED = "[scrubbed]"

#: Field names that carry a user (or chat / IP) identifier, as used by ``log_event`` callers.
ID_FIELDS = frozenset({
    "user", "uid", "user_id", "account", "inviter", "invitee", "partner", "payer", "owner",
    "other", "who", "member", "target", "admin", "chat", "chat_id", "client_ip", "ip", "ip_address",
})
_ID_SUFFIXES = ("_uid", "_user", "_user_id", "_account", "_chat", "_chat_id")
_SENSITIVE = ("birth", "token", "secret", "password", "api_key", "encryption", "authorization", "cookie")

_PLATFORM_UID = re.compile(r"(?<![A-Za-z0-9_])(?:tg|dc|cli):[A-Za-z0-9_-]+")
_SEP = r"\s*[-./]\s*"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATES = (
    # 1990-05-17, 1990.05.17, 1990/5/17, 1990. 5. 17
    re.compile(rf"(?<!\d)(?:19|20)\d{{2}}{_SEP}{_MONTH}{_SEP}{_DAY}(?!\d)"),
    # 17.05.1990, 05/17/1990
    re.compile(rf"(?<!\d){_DAY}{_SEP}{_DAY}{_SEP}(?:19|20)\d{{2}}(?!\d)"),
    # 1990년 5월 17일, 90년 5월 17일
    re.compile(r"(?<!\d)\d{2,4}\s*년\s*\d{1,2}\s*월\s*\d{1,2}\s*일?"),
    # 90-05-17, 90.05.17 (two-digit year with separators)
    re.compile(rf"(?<![\d.:-])\d{{2}}{_SEP}{_MONTH}{_SEP}{_DAY}(?![\d.:-])"),
    # May 17, 1990 / 17 May 1990 / May 17th 1990
    re.compile(r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?"
               r"\s+(?:19|20)\d{2}\b|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct"
               r"|nov|dec)[a-z]*\.?,?\s+(?:19|20)\d{2}\b"),
)
_COMPACT = re.compile(r"(?<![0-9A-Za-z])(\d{4})(\d{2})(\d{2})(?![0-9A-Za-z])")
# Telegram bot tokens also inside URLs (``/bot123456:AA…/sendMessage``), provider API keys.
_TOKEN = re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}|\bsk-[A-Za-z0-9_-]{10,}")

_hide_ids: contextvars.ContextVar[bool] = contextvars.ContextVar("redact_hide_ids", default=False)


@contextlib.contextmanager
def pair_scope() -> Iterator[None]:
    """Hide (not pseudonymise) every user id logged inside: the lines cannot link a pair."""
    token = _hide_ids.set(True)
    try:
        yield
    finally:
        _hide_ids.reset(token)


def ids_hidden() -> bool:
    return _hide_ids.get()


def is_id_field(name: object) -> bool:
    lowered = str(name).lower()
    return lowered in ID_FIELDS or lowered.endswith(_ID_SUFFIXES)


def is_sensitive(name: object) -> bool:
    lowered = str(name).lower()
    return any(s in lowered for s in _SENSITIVE)


def _compact_date(match: re.Match[str]) -> str:
    year, month, day = (int(g) for g in match.groups())
    if 1900 <= year <= 2100:
        try:
            date(year, month, day)
        except ValueError:
            return match.group(0)
        return DATE
    return match.group(0)


def scrub_text(text: str, hide_ids: bool | None = None) -> str:
    """Pseudonymise (or hide) platform ids, and replace dates and token shapes, in free text."""
    hide = ids_hidden() if hide_ids is None else hide_ids
    out = _PLATFORM_UID.sub(HIDDEN if hide else (lambda m: pseudonym(m.group(0))), text)
    out = _TOKEN.sub("[token]", out)
    for pattern in _DATES:
        out = pattern.sub(DATE, out)
    return _COMPACT.sub(_compact_date, out)


def _as_id(value: Any, hide: bool, keep: frozenset[str]) -> Any:
    if value is None or isinstance(value, bool) or value == "" or value in (HIDDEN, SCRUBBED):
        return value
    if isinstance(value, (str, int)):
        return HIDDEN if hide else pseudonym(value)
    return redact_value(None, value, as_id=True, hide_ids=hide, keep=keep)


def redact_value(key: object, value: Any, *, as_id: bool = False, hide_ids: bool | None = None,
                 keep: frozenset[str] = frozenset()) -> Any:
    """``value`` as it may be logged under ``key`` (None for list items / unnamed values).

    ``keep``: key names whose values are passed through untouched (Sentry's own timestamps).
    """
    hide = ids_hidden() if hide_ids is None else hide_ids
    if key is not None and key in keep:
        return value
    if key is not None and is_sensitive(key):
        return SCRUBBED if value not in (None, "") else value
    as_id = as_id or (key is not None and is_id_field(key))
    if isinstance(value, Mapping):
        # Keys are text too: a dict keyed by user id or date must not carry them out.
        return {(scrub_text(k, hide) if isinstance(k, str) and k not in keep else k):
                redact_value(k, v, as_id=as_id, hide_ids=hide, keep=keep) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_value(None, v, as_id=as_id, hide_ids=hide, keep=keep) for v in value]
    if as_id:
        return _as_id(value, hide, keep)
    if isinstance(value, str):
        return scrub_text(value, hide)
    return value


def redact_fields(fields: Mapping[str, Any], hide_ids: bool | None = None) -> dict[str, Any]:
    """A log event's fields, redacted (see the module docstring)."""
    return {k: redact_value(k, v, hide_ids=hide_ids) for k, v in fields.items()}
