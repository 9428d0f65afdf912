"""Anchor bots for ``bench_telegram.py``, each run in its own process.

``python bench/tg_echo.py floor <api url> <token>``
    The framework-free floor: aiohttp long polling and ``sendMessage`` on one session, at most
    ``POOL`` sends in flight. What answering an update costs with no framework at all.
``python bench/tg_echo.py ptb-httpx|ptb-aiohttp <api url> <token>``
    The stock python-telegram-bot echo (``MessageHandler`` → ``reply_text``) with the same PTB
    settings as the Soul Lab adapter: a pool of ``POOL`` connections, ``POOL`` updates handled
    concurrently, no rate limiter, long polling; ``ptb-httpx`` is PTB's stock transport,
    ``ptb-aiohttp`` ours (``bot/handlers/telegram/request.py``) to isolate the transport.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POOL = 32  # = TelegramAdapter's pool_size default


async def floor(api: str, token: str) -> None:
    import aiohttp

    base = f"{api}/bot{token}"
    slots = asyncio.Semaphore(POOL)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL + 1)) as http:
        async def send(chat: int, text: str) -> None:
            async with slots, http.post(f"{base}/sendMessage", json={"chat_id": chat, "text": text}) as r:
                await r.read()

        offset = 0
        while True:
            async with http.post(f"{base}/getUpdates", json={"offset": offset, "timeout": 10}) as r:
                updates: list[dict[str, Any]] = (await r.json())["result"]
            for u in updates:
                offset = max(offset, u["update_id"] + 1)
                msg = u.get("message") or {}
                if msg.get("text"):
                    task = asyncio.get_running_loop().create_task(send(msg["chat"]["id"], msg["text"]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)


async def ptb(api: str, token: str, transport: str) -> None:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    from bot.handlers.telegram.request import make_request

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "")

    app = (ApplicationBuilder().token(token).base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
           .request(make_request(transport, connection_pool_size=POOL, pool_timeout=30.0))  # type: ignore[arg-type]
           .get_updates_request(make_request(transport, connection_pool_size=1))  # type: ignore[arg-type]
           .concurrent_updates(POOL).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=10)
        await asyncio.Event().wait()


def main() -> None:
    kind, api, token = sys.argv[1:4]
    if kind == "floor":
        asyncio.run(floor(api, token))
    elif kind in ("ptb-httpx", "ptb-aiohttp"):
        asyncio.run(ptb(api, token, kind.removeprefix("ptb-")))
    else:
        raise SystemExit(f"unknown bot {kind!r}")


if __name__ == "__main__":
    main()
