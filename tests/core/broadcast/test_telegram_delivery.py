"""PTB errors -> the core delivery contract (bot/handlers/telegram_delivery.py)."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.core.delivery import (
    DeliveryBlocked,
    DeliveryFailed,
    DeliveryRetryAfter,
    DeliveryUnknown,
    as_delivery_error,
)
from bot.core.reply import Reply
from bot.handlers.telegram_delivery import map_telegram_error, wrap_sender

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.mark.parametrize("exc, kind", [
    (Forbidden("Forbidden: bot was blocked by the user"), DeliveryBlocked),
    (Forbidden("Forbidden: user is deactivated"), DeliveryBlocked),
    (BadRequest("Chat not found"), DeliveryBlocked),
    (BadRequest("PEER_ID_INVALID"), DeliveryBlocked),
    (BadRequest("Message text is empty"), DeliveryFailed),
    (NetworkError("Bad Gateway (502)"), DeliveryFailed),
    (TimedOut("Timed out"), DeliveryUnknown),
    (TimedOut("Pool timeout: All connections in the connection pool are occupied."), DeliveryFailed),
])
def test_mapping(exc: Exception, kind: type) -> None:
    assert isinstance(map_telegram_error(exc), kind)


def test_retry_after_seconds() -> None:
    err = map_telegram_error(RetryAfter(7))
    assert isinstance(err, DeliveryRetryAfter) and err.seconds == 7
    err = map_telegram_error(RetryAfter(dtm.timedelta(seconds=3)))
    assert isinstance(err, DeliveryRetryAfter) and err.seconds == 3


def test_not_telegram_errors_pass_through() -> None:
    assert map_telegram_error(ValueError("x")) is None
    assert isinstance(as_delivery_error(ValueError("x")), DeliveryFailed)


async def test_wrapped_sender_raises_the_contract() -> None:
    async def sender(user_id: str, reply: Reply) -> None:
        raise Forbidden("Forbidden: bot was blocked by the user")

    wrapped = wrap_sender(sender)
    assert wrap_sender(wrapped) is wrapped  # idempotent
    with pytest.raises(DeliveryBlocked) as info:
        await wrapped("1", Reply("hi"))
    assert isinstance(info.value.__cause__, Forbidden)
