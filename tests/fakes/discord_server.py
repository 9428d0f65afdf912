"""The fake Discord in its own process (benchmarks): ``python -m tests.fakes.discord_server [guilds]``.

Prints one JSON line (``FakeDiscord.info()``: ``api_url``, ``gateway_url``, ``token``,
``application_id``, ``guilds``) once it listens, then serves until killed. Events are sent with
``POST /_control/dispatch`` (a raw payload, or a builder by name: ``{"build": "slash_command",
"args": {"name": "fortune", "user_id": 1, "guild": <id>}}``) and the bot's REST calls read from
``GET /_control/requests?since=n``, so the bot under test has its process to itself.
``ack_deadline`` is off here: a loaded benchmark measures latency instead of failing on it.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.fakes.discord_api import FakeDiscord


async def main(guilds: int) -> None:
    fake = FakeDiscord(ack_deadline=None)
    for i in range(guilds):
        fake.add_guild(f"bench guild {i}")
    await fake.start()
    print(json.dumps(fake.info()), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
