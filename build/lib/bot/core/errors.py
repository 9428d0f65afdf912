"""The one set of error codes used in logs, HTTP answers, ops output and user replies."""

from __future__ import annotations

from enum import Enum

__all__ = ["ErrorCode", "BotError", "ServiceUnavailable"]


class ErrorCode(str, Enum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"

    @property
    def http_status(self) -> int:
        return _HTTP[self]

    @property
    def message_key(self) -> str:
        """The i18n key of this code's short user-facing message."""
        return "error." + self.value.lower()


_HTTP = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


class BotError(Exception):
    """A failure the user should be told about in their language.

    ``key`` is an i18n message key (defaults to the code's generic message) and ``params``
    fill it. The router turns a BotError into a Reply with ``error=code``.
    """

    def __init__(self, code: ErrorCode, key: str | None = None, **params: object) -> None:
        self.code = code
        self.key = key or code.message_key
        self.params = params
        super().__init__(f"{code.value}: {self.key}")


class ServiceUnavailable(BotError):
    """Redis (or another dependency money depends on) is unreachable; nothing was changed."""

    def __init__(self, what: str = "redis") -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE)
        self.what = what
