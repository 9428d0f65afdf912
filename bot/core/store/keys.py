"""Every Redis key the bot uses is built here, and only here.

Prefixes follow the runbook (``invite:*``, ``session:*``, ``ratelimit:*``) so operators can
browse data by pattern. ``uid`` is always the platform-qualified user id (``tg:123``).
"""

from __future__ import annotations

__all__ = ["K"]


class K:
    """Key builders, grouped by feature. Pure functions; no I/O."""

    # --- profiles -------------------------------------------------------------------
    @staticmethod
    def profile(uid: str) -> str:
        return f"profile:{uid}"

    @staticmethod
    def profiles_index() -> str:
        """Set of every uid with a profile (for ops and audits)."""
        return "profiles:all"

    # --- credits ledger -------------------------------------------------------------
    @staticmethod
    def account(uid: str) -> str:
        """Hash: balance, held, earned, spent."""
        return f"credits:{uid}"

    @staticmethod
    def ledger(uid: str) -> str:
        """List of JSON ledger entries, newest first (LPUSH)."""
        return f"ledger:{uid}"

    @staticmethod
    def accounts_index() -> str:
        """Set of every account id that has ledger entries (reconcile walks it)."""
        return "credits:accounts"

    @staticmethod
    def idempotency(scope: str, key: str) -> str:
        return f"idem:{scope}:{key}"

    @staticmethod
    def hold(hold_id: str) -> str:
        return f"hold:{hold_id}"

    @staticmethod
    def hold_deadlines() -> str:
        """Sorted set hold_id -> deadline (epoch ms) for releasing holds of crashed processes."""
        return "holds:deadline"

    @staticmethod
    def sales_day(day: str) -> str:
        """Hash of credits sold per day (UTC) for /ops metrics."""
        return f"sales:{day}"

    @staticmethod
    def payment(charge_id: str) -> str:
        """Hash describing one Telegram Stars payment (uid, pack, amount, status)."""
        return f"payment:tg:{charge_id}"

    # --- rate limits ----------------------------------------------------------------
    @staticmethod
    def ratelimit(scope: str, subject: str) -> str:
        return f"ratelimit:{scope}:{subject}"

    @staticmethod
    def ratelimit_config() -> str:
        """Hash scope -> "limit:window_seconds", run-time overrides set by /ops."""
        return "ratelimit:config"

    # --- conversations and sessions -------------------------------------------------
    @staticmethod
    def session(uid: str, kind: str) -> str:
        return f"session:{uid}:{kind}"

    @staticmethod
    def unlock(uid: str, feature: str, day: str) -> str:
        """Marker that ``feature`` is unlocked for ``uid`` on local ``day``."""
        return f"unlock:{uid}:{feature}:{day}"

    @staticmethod
    def user_keys_pattern(uid: str) -> list[str]:
        """Patterns of per-user keys that /delete must erase (besides the ledger)."""
        return [f"session:{uid}:*", f"unlock:{uid}:*", f"aicache:{uid}:*"]
