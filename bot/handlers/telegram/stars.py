"""Telegram Stars as a payment provider (``bot.core.payments.PaymentProvider``): refunds.

Built from the bot token alone, so any process configured with ``TELEGRAM_BOT_TOKEN`` — the
console, ``python -m bot ops``, a process running only Discord — can give Stars back; the
Telegram adapter registers one on its own ``Bot`` when it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram.error import BadRequest

from bot.core.payments import PlatformAlreadyRefunded

if TYPE_CHECKING:
    from telegram import Bot

    from bot.core.settings import Settings

__all__ = ["StarsProvider"]


class StarsProvider:
    name = "stars"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    @classmethod
    def from_settings(cls, settings: Settings) -> StarsProvider:
        from telegram import Bot

        from bot.handlers.telegram.request import make_request

        env = settings.env
        assert env.telegram_bot_token
        api = env.telegram_api_base_url.rstrip("/")
        return cls(Bot(env.telegram_bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                       request=make_request(env.telegram_transport, connection_pool_size=4)))

    async def refund(self, user_id: str, charge_id: str) -> None:
        """``refundStarPayment``; a charge refunded before raises ``PlatformAlreadyRefunded``."""
        try:
            await self.bot.refund_star_payment(int(user_id), charge_id)
        except BadRequest as err:
            if "CHARGE_ALREADY_REFUNDED" in str(err).upper():
                raise PlatformAlreadyRefunded(str(err)) from err
            raise
