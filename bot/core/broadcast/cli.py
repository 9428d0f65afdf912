"""``python -m bot broadcast status|pause|resume`` — the operators' broadcast controls."""

from __future__ import annotations

import asyncio
import json

from bot.core.broadcast.status import broadcast_status, pause_broadcast, resume_broadcast

__all__ = ["broadcast_cli", "format_status"]

_ORDER = ("day_utc", "paused", "subscribers", "due", "queued", "sent", "unknown", "failed", "blocked",
          "unreachable", "expired", "retried", "pending", "retrying", "dead_letter", "rate_per_second")


def format_status(status: dict[str, object]) -> str:
    width = max(len(k) for k in _ORDER)
    lines = [f"{k:<{width}}  {status.get(k)}" for k in _ORDER]
    if status.get("paused_by"):
        lines.append(f"{'paused_by':<{width}}  {status['paused_by']}")
    return "\n".join(lines)


async def _run(action: str, as_json: bool) -> int:
    from bot.core.service import Core
    from bot.core.settings import load_settings
    from bot.core.store import open_store

    settings = load_settings()
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        core = await Core.create(settings, store)
        if action == "pause":
            await pause_broadcast(core, by="cli")
        elif action == "resume":
            await resume_broadcast(core, by="cli")
        status = await broadcast_status(core)
        print(json.dumps(status, ensure_ascii=False) if as_json else format_status(status), flush=True)
        return 0
    finally:
        await store.close()


def broadcast_cli(action: str, as_json: bool = False) -> int:
    from bot.core.errors import ServiceUnavailable
    from bot.core.settings import SettingsError

    try:
        return asyncio.run(_run(action, as_json))
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except ServiceUnavailable:
        print("soul-lab: Redis is not reachable", flush=True)
        return 1
