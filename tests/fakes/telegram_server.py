"""The fake Bot API in its own process (benchmarks): ``python -m tests.fakes.telegram_server``.

Prints one line ``<url> <token>`` once it listens, then serves until killed. Updates are
delivered through ``POST /_control/messages`` and replies read from ``GET /_control/sends``
(see ``FakeTelegramAPI``), so the bot under test has its process to itself.
"""

from __future__ import annotations

import asyncio

from tests.fakes.telegram_api import FakeTelegramAPI


async def main() -> None:
    api = await FakeTelegramAPI().start()
    print(f"{api.url} {api.token}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


if __name__ == "__main__":
    asyncio.run(main())
