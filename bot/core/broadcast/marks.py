"""Per-user-per-day delivery markers of the daily broadcast, in per-day buckets.

A marker says how far the day's fortune for one account got: ``q`` queued, ``s`` sending,
``S`` sent, ``u`` unknown (a send started and was never confirmed), ``f`` failed (dead letter),
``b`` blocked, ``x`` skipped / expired / unreachable. Markers are written only by the
broadcast's Lua steps (``broadcast_queue``, ``broadcast_claim``, ``broadcast_finish``;
``broadcast_forget`` removes them for /delete), each one atomic in the ``{b}`` slot.

Layout: the markers of local day ``D`` live in ``n`` small hashes
``bcast:{b}:mark:<D>:<bucket>`` (account id -> state letter), ``bucket = mark_bucket(uid, n)``;
an account id (``a`` + 16 hex) is stored as its 8 raw bytes (``mark_field``), other ids as
they are.
``n`` is fixed by the first marker written for ``D`` (``bcast:{b}:mark:<D>:n`` =
ceil(subscribers / ``PER_BUCKET``)), so buckets hold ~64 entries whatever the number of
subscribers and stay listpack-encoded (Redis 7.0 keeps a hash compact up to 128 entries; a day
can grow 2x before a bucket converts, which changes only its size, never its meaning). All of
a day's keys expire together at 14:00 UTC on the day after ``D``: by 12:00 UTC ``D`` has ended
in every time zone (UTC-12 is the last), so no step asks about it any more (catch-up never
sends a past local day; a worker whose entry finds no marker acknowledges it as ``gone`` and
never sends, so an expired marker can only skip, never double, a send).

Why: one field per subscriber in one big hash costs ~80 B (hash-table entry); a bucketed
listpack entry ~16 B, and a subscriber has at most two days of markers at once (a marker lives
from the send to 14:00 UTC the day after; three only for a send time more than 10 hours before
00:00 UTC, e.g. before 04:00 in UTC+14, for those hours).

Markers written before (the legacy hash ``bcast:{b}:mark``, ``"<day>:<state>"``) are read by
the same steps and the field is dropped when the account's next marker is written, so an
upgrade in the middle of a day neither resends nor loses an entry already queued.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC
from typing import TYPE_CHECKING

from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["PER_BUCKET", "mark_bucket", "mark_field", "field_uid", "later_days", "recent_days", "read_marks"]

#: Target markers per bucket when a day's bucket count is fixed (half the listpack limit).
PER_BUCKET = 64


def mark_bucket(uid: str, n: int) -> int:
    """The bucket of ``uid`` among ``n`` (the same function as ``mark_bucket`` in the Lua)."""
    h = 0
    for byte in uid.encode("utf-8"):
        h = (h * 31 + byte) % 2147483647
    return h % n


def mark_field(uid: str) -> bytes:
    """The bucket field of ``uid`` (the same as ``mark_field`` in the Lua)."""
    if len(uid) == 17 and uid[0] == "a" and all(c in "0123456789abcdef" for c in uid[1:]):
        return bytes.fromhex(uid[1:])
    raw = uid.encode("utf-8")
    return b"~" + raw if len(raw) == 8 else raw


def field_uid(field: bytes) -> str:
    """The account id a bucket field stands for (``mark_field`` reversed)."""
    if len(field) == 8:
        return "a" + field.hex()
    text = field.decode("utf-8")
    return text[1:] if len(field) == 9 and text.startswith("~") else text


def later_days(day: str) -> tuple[str, str]:
    """The two local days after ``day``: a marker of either means ``day`` is stale (at one
    instant local dates span at most three days, UTC-12 to UTC+14)."""
    try:
        d = date.fromisoformat(day)
    except ValueError:  # not a day (a malformed entry): nothing is later, nothing matches
        return "", ""
    return (d + timedelta(days=1)).isoformat(), (d + timedelta(days=2)).isoformat()


def recent_days(utc_today: date) -> list[str]:
    """Every local day whose markers may still exist on UTC day ``utc_today``."""
    return [(utc_today + timedelta(days=k)).isoformat() for k in range(-3, 3)]


async def read_marks(core: Core, days: list[str] | None = None) -> dict[str, str]:
    """Account id -> ``"<day>:<state>"``, each account's newest marker over ``days`` (default:
    every day whose markers may still exist) and the legacy hash — for operators and tests.
    Read-only, not atomic across days; Redis down: ``ServiceUnavailable``."""
    r = core.store.redis
    if days is None:
        days = recent_days(datetime.fromtimestamp(core.clock.now(), UTC).date())
    async with redis_guard("broadcast.marks"):
        out: dict[str, str] = dict(await r.hgetall(K.broadcast_marks()))
        for day in sorted(days):
            n = await r.get(K.broadcast_mark_count(day))
            if not n:
                continue
            for b in range(int(n)):
                # The fields are raw bytes: read this one reply undecoded.
                flat = await r.execute_command("HGETALL", K.broadcast_mark_bucket(day, b), NEVER_DECODE=True)
                pairs = dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else dict(flat or {})
                for field, raw_st in pairs.items():
                    uid, st = field_uid(field), raw_st.decode("ascii")
                    if out.get(uid, "")[:10] <= day:
                        out[uid] = f"{day}:{st}"
    return out
