"""The start-up layout check: the bot reads key layout v2 only.

``check_layout`` runs in ``bot.app.build_core`` right after the Core is built, before the adapters
and background jobs start (``Core.create`` may only have created the development signing secret).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.migrate.v1 import V1_MARKERS, v1_family
from bot.core.settings import SettingsError
from bot.core.store import K
from bot.core.store.keys import LAYOUT_VERSION

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["LayoutError", "check_layout"]


class LayoutError(SettingsError):
    """The data is not in the key layout this code reads: start-up stops."""


async def _looks_v1(core: Core) -> bool:
    r = core.store.redis
    for key in V1_MARKERS:
        if await r.exists(key):
            return True
    if core.store.topology == "cluster":
        return False  # a v1 dataset cannot live on a cluster (its scripts cross slots)
    for pattern in ("profile:*", "credits:*", "ledger:*"):
        async for key in r.scan_iter(match=pattern, count=1000):
            if v1_family(key) is not None:
                return True
    return False


async def check_layout(core: Core) -> None:
    """Start-up: refuse a dataset this code cannot read; mark an empty (or already v2) one.

    ``layout:version`` "2": fine. Another version, a migration that has not finished, or v1
    data (``profiles:all``, ``credits:accounts``, …, or any untagged ``profile:`` /
    ``credits:`` / ``ledger:`` key): ``LayoutError`` naming ``python -m bot migrate``. No
    version and no v1 data: ``layout:version`` = "2" (SET NX: processes starting together
    agree). Redis down: the Redis error (start-up fails as for any outage).
    """
    r = core.store.redis
    version = await r.get(K.layout_version())
    if version == str(LAYOUT_VERSION):
        return
    if version is not None:
        raise LayoutError(f"the data in Redis is in key layout {version!r}; this version of the bot reads "
                          f"layout {LAYOUT_VERSION}. Run the matching version of the bot.")
    if await r.exists(K.migration_state()):
        raise LayoutError("a migration to key layout v2 was started and has not finished: stop every bot "
                          "process and run `python -m bot migrate` again (it resumes); see docs/MIGRATION.md.")
    if await _looks_v1(core):
        raise LayoutError("the data in Redis is in key layout v1 (from an older version of the bot). Stop every "
                          "bot process, back up Redis, and run `python -m bot migrate` once; then start the bot "
                          "again. See docs/MIGRATION.md.")
    await r.set(K.layout_version(), str(LAYOUT_VERSION), nx=True)
