"""Key layout v1 (up to commit bba5aa1): its key names and how to recognise them.

Used by the migration (``bot.core.migrate``) and the start-up layout check. Pure; no I/O.
In v1 the user id was the platform identity (``tg:123``), part of key names
(``profile:tg:123``, ``idem:tg:123:<key>``, …); ledgers detached by v1 /delete live under
``anon:<hex>``. Nothing outside the migration builds these names (``keys.py`` holds v2 only).
"""

from __future__ import annotations

import re

__all__ = ["V1", "V1_MARKERS", "V1_PLATFORMS", "is_uid", "split_uid", "v1_account_id", "v1_family",
           "known_v2"]

#: Global v1 keys whose presence (without ``layout:version``) marks a v1 dataset.
V1_MARKERS = ("profiles:all", "credits:accounts", "payments:tg", "bcast:subs", "outbox:due",
              "leaderboard:pairs:all")

#: Platforms of v1 identities: Telegram, Discord, the terminal console.
V1_PLATFORMS = ("tg", "dc", "cli")
_ANON_RE = re.compile(r"^anon:[0-9a-f]{8,64}$")
_ID_RE = re.compile(r"^[^:{}|\s]+$")


class V1:
    """Key names of layout v1 (``bot/core/store/keys.py`` at bba5aa1), for this migration only."""

    PROFILES_INDEX = "profiles:all"
    ACCOUNTS_INDEX = "credits:accounts"
    OUTBOX_DUE = "outbox:due"
    BCAST_SUBS = "bcast:subs"
    BCAST_DUE = "bcast:due"
    BCAST_MARKS = "bcast:mark"
    LEADERBOARD_ALL = "leaderboard:pairs:all"
    LEADERBOARD_WEEK = "leaderboard:pairs:week:"

    @staticmethod
    def account(x: str) -> str:
        return f"credits:{x}"

    @staticmethod
    def ledger(x: str) -> str:
        return f"ledger:{x}"

    @staticmethod
    def checkpoint(x: str) -> str:
        return f"ledger:ckpt:{x}"

    @staticmethod
    def hold(hold_id: str) -> str:
        return f"hold:{hold_id}"

    @staticmethod
    def pair_seen(digest: str) -> str:
        return f"invite:pairseen:{digest}"


def is_uid(value: str | None) -> bool:
    """A v1 platform identity (``tg:123``, ``cli:local``)."""
    if not value:
        return False
    platform, sep, user = value.partition(":")
    return bool(sep) and platform in V1_PLATFORMS and bool(_ID_RE.match(user))


def split_uid(rest: str) -> tuple[str, str] | None:
    """``"tg:123:more"`` -> ``("tg:123", "more")``; ``"tg:123"`` -> ``("tg:123", "")``."""
    platform, sep, tail = rest.partition(":")
    user, _, more = tail.partition(":")
    uid = f"{platform}:{user}"
    return (uid, more) if sep and is_uid(uid) else None


def v1_account_id(rest: str) -> str | None:
    """The v1 ledger owner in ``credits:<x>`` / ``ledger:<x>``: a uid or an ``anon:`` id."""
    if _ANON_RE.match(rest) or is_uid(rest):
        return rest
    return None


def v1_family(key: str) -> str | None:
    """The migration step that owns ``key`` if it is a v1 key name, else None (v2 keys, names
    both layouts share, keys of no layout). ``invite:<id>`` hashes keep their name: whether
    one is still v1 depends on its inviter field (see ``verify``)."""
    if "{" in key:
        return None
    head, _, rest = key.partition(":")
    if head == "profile":
        return "profiles"
    if head == "profiles" and rest == "all":
        return "indexes"
    if head == "credits":
        return "indexes" if rest == "accounts" else "ledger"
    if head == "ledger":
        return "ledger"
    if head == "idem":
        return "idempotency"
    if head == "hold":
        return "holds"
    if head in ("payment", "payments", "sales"):
        return "payments"
    if head == "ratelimit":
        return None if rest == "config" else "transient"
    if head in ("session", "unlock", "aicache"):
        return "sessions"
    if head == "ai":
        return "transient" if rest.startswith("breaker:") else None
    if head in ("pair", "pairs"):
        return "pairs"
    if head == "invite":
        if rest.startswith(("pairseen:", "inviteepaid:", "rewardday:")):
            return "pair_markers"
        if rest.startswith("user:") or ":" not in rest:
            return "invites"
        return None
    if head == "streak":
        return "streaks"
    if head == "leaderboard":
        return "leaderboards" if rest.startswith("pairs:") else None
    if head == "tg" and rest.startswith("update:"):
        return "transient"
    if head == "outbound":
        return "transient"
    if head == "outbox" and (rest.startswith("job:") or rest == "due"):
        return "outbox"
    if head == "bcast":
        return "broadcast"
    return None


#: Untagged key names of layout v2 (the rest carry a hash tag).
_V2_UNTAGGED_PREFIXES = ("layout:", "ident:", "welcome:", "ai:spend:", "inbox:", "invite:")
_V2_UNTAGGED = {"accounts:all", "erasure:pending", "holds:deadline", "secret:signing:dev", "ratelimit:config"}


def known_v2(key: str) -> bool:
    return "{" in key or key in _V2_UNTAGGED or key.startswith(_V2_UNTAGGED_PREFIXES)
