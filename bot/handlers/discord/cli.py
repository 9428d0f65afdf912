"""``python -m bot discord sync``: sync the slash commands now, whatever Redis remembers.

Logs in over REST only (no gateway), builds the same command tree the adapter builds, syncs it
(globally, or to ``DISCORD_DEV_GUILD_ID``) and stores the payload digest, so the next start
does not sync again. Exit 0 when synced, 1 when Discord or Redis refused, 2 on bad settings.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

__all__ = ["sync_cli"]

if TYPE_CHECKING:
    from bot.core.settings import Settings


async def _sync(settings: Settings) -> int:
    import discord

    from bot.app import build_core
    from bot.handlers.discord.adapter import apply_urls
    from bot.handlers.discord.commands import build_tree, sync_commands

    core = await build_core(settings)
    client = discord.Client(intents=discord.Intents.default())
    try:
        apply_urls(settings)
        assert settings.env.discord_bot_token
        await client.login(settings.env.discord_bot_token)
        assert client.application_id is not None

        async def nothing(interaction: discord.Interaction[Any], text: str) -> None:
            return None

        guild = settings.env.discord_dev_guild_id
        ops_guild = settings.env.discord_ops_guild_id
        tree = build_tree(client, core.router, nothing, guild, ops_guild)
        scopes = [guild] + ([ops_guild] if ops_guild and ops_guild != guild else [])
        for scope in scopes:
            await sync_commands(core, tree, client.application_id, guild_id=scope, force=True)
            names = [c.name for c in tree.get_commands(guild=discord.Object(scope) if scope else None)]
            where = f"guild {scope}" if scope else "globally"
            print(f"soul-lab: synced {len(names)} commands {where}: {', '.join('/' + n for n in names)}", flush=True)
        return 0
    except discord.HTTPException as exc:
        print(f"soul-lab: Discord refused the sync: {exc.status} {exc.code} {exc.text}"[:500], flush=True)
        return 1
    finally:
        await client.close()
        await core.store.close()


def sync_cli() -> int:
    from bot.core.errors import ServiceUnavailable
    from bot.core.logs import configure_logging
    from bot.core.settings import SettingsError, load_settings
    from bot.core.store import REDIS_ERRORS

    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    if not settings.env.discord_bot_token:
        print("soul-lab: DISCORD_BOT_TOKEN is not set", flush=True)
        return 2
    configure_logging(settings.env.log_level)
    try:
        return asyncio.run(_sync(settings))
    except ServiceUnavailable:
        print("soul-lab: Redis is not reachable", flush=True)
        return 1
    except REDIS_ERRORS:
        print("soul-lab: Redis is not reachable", flush=True)
        return 1
