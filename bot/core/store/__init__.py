"""Redis connection, every key, and the Lua scripts."""

from bot.core.store.connection import REDIS_ERRORS, Store, is_outage, open_store, redis_guard
from bot.core.store.keys import K

__all__ = ["Store", "open_store", "K", "REDIS_ERRORS", "redis_guard", "is_outage"]
