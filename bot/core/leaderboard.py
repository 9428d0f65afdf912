"""The pairing leaderboard (``/top``): inviters ranked by successful pairings.

Two boards, both Redis sorted sets in the ``{pairs}`` slot (member -> pairings):

* all time: ``leaderboard:{pairs}:all``;
* this week: ``leaderboard:{pairs}:week:<ISO year>-W<ISO week>``. A week starts on Monday
  00:00 **Asia/Seoul** for everyone (one shared board), whatever the user's own time zone;
  each weekly key expires ``WEEK_TTL_SECONDS`` after its last write.

Privacy: a member is never a platform id, an account id or a name. It is a keyed hash of the
account id (``HMAC-SHA256(k, aid)`` with ``k = HMAC-SHA256(signing secret,
"soul-lab/leaderboard/v1")``, 16 hex chars; the signing secret is ``core.signing_secret``, see
``bot.core.secrets``), and what people see is a stable pseudonym derived from it, e.g.
"별빛 여우 #3f2a" / "Starlit Fox #3f2a". Nobody can get from the pseudonym back to the user;
the user can find themselves because their own row is marked.

Scores are written by the pairing decision script (``pair_decide.lua``, step (b) of
``Invites.accept``), once per invite and only for a pair that was never counted before. Before
it runs, the inviter's registry (``acct:{aid}:keys``) records the member in both boards, so
``erase`` (``/delete``) finds every board the member is in without a SCAN.
Ranks are competition ranks: equal scores share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from bot.core.hashing import KeyedHash
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Leaderboard", "Row", "Period", "week_id", "pseudonym", "WEEK_TZ", "WEEK_TTL_SECONDS"]

Period = Literal["week", "all"]

#: The leaderboard week starts Monday 00:00 in this zone, for every user.
WEEK_TZ = ZoneInfo("Asia/Seoul")
#: A weekly board is kept this long after its last write (then it expires by itself).
WEEK_TTL_SECONDS = 35 * 86400

_ADJ_KO = ("별빛", "달빛", "새벽", "노을", "구름", "바람", "봄날", "여름",
           "가을", "겨울", "은하", "이슬", "햇살", "무지개", "파도", "숲속")
_ADJ_EN = ("Starlit", "Moonlit", "Dawn", "Sunset", "Cloud", "Breeze", "Spring", "Summer",
           "Autumn", "Winter", "Galaxy", "Dewdrop", "Sunny", "Rainbow", "Wave", "Forest")
_ANIMAL_KO = ("여우", "고양이", "토끼", "부엉이", "고래", "사슴", "다람쥐", "수달",
              "펭귄", "곰", "나비", "학", "호랑이", "판다", "돌고래", "참새")
_ANIMAL_EN = ("Fox", "Cat", "Rabbit", "Owl", "Whale", "Deer", "Squirrel", "Otter",
              "Penguin", "Bear", "Butterfly", "Crane", "Tiger", "Panda", "Dolphin", "Sparrow")


def week_id(ts: float) -> str:
    """The leaderboard week of epoch seconds ``ts``: ISO week of the Asia/Seoul date (``2025-W03``).

    Remembered per quarter hour: every UTC offset Asia/Seoul has had since 1910 is a whole number
    of quarter hours, so a local midnight never falls inside one (earlier instants are computed)."""
    if ts < _CACHE_FROM:
        return _week_of(ts)
    return _week_of_quarter(int(ts // 900))


_CACHE_FROM = -1_893_456_000  # 1910-01-01: after the zone's local mean time (+8:27:52) ended


def _week_of(ts: float) -> str:
    year, week, _ = datetime.fromtimestamp(ts, WEEK_TZ).date().isocalendar()
    return f"{year}-W{week:02d}"


@lru_cache(maxsize=64)
def _week_of_quarter(quarter: int) -> str:
    return _week_of(quarter * 900)


def pseudonym(member: str, lang: str) -> str:
    """A stable, friendly display name for a leaderboard member (a hex digest)."""
    adj = int(member[4:6], 16) % len(_ADJ_KO)
    animal = int(member[6:8], 16) % len(_ANIMAL_KO)
    if lang == "en":
        return f"{_ADJ_EN[adj]} {_ANIMAL_EN[animal]} #{member[:4]}"
    return f"{_ADJ_KO[adj]} {_ANIMAL_KO[animal]} #{member[:4]}"


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    member: str
    score: int

    def name(self, lang: str) -> str:
        return pseudonym(self.member, lang)


class Leaderboard:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._r = core.store.redis
        secret = core.signing_secret
        self._key = KeyedHash(hmac.digest(secret, b"soul-lab/leaderboard/v1", "sha256"))

    # --- identities and keys -----------------------------------------------------
    def member(self, uid: str) -> str:
        """The pseudonymous leaderboard member of ``uid``."""
        return self._key.hexdigest(uid.encode())[:16]

    def key(self, period: Period, ts: float | None = None) -> str:
        if period == "all":
            return K.leaderboard_all()
        return K.leaderboard_week(week_id(self._core.clock.now() if ts is None else ts))

    # --- reads -------------------------------------------------------------------
    async def top(self, period: Period, limit: int = 10) -> list[Row]:
        async with redis_guard("leaderboard.top"):
            raw = await self._r.zrevrange(self.key(period), 0, max(0, limit - 1), withscores=True)
        rows: list[Row] = []
        first_index: dict[int, int] = {}
        for i, (member, score) in enumerate(raw):
            s = int(score)
            first_index.setdefault(s, i)
            rows.append(Row(first_index[s] + 1, member, s))
        return rows

    async def standing(self, uid: str, period: Period) -> Row | None:
        """The caller's own rank (None when they have no pairing in that period)."""
        member = self.member(uid)
        key = self.key(period)
        async with redis_guard("leaderboard.standing"):
            score = await self._r.zscore(key, member)
            if score is None:
                return None
            higher = await self._r.zcount(key, f"({score}", "+inf")
        return Row(int(higher) + 1, member, int(score))

    # --- /delete -------------------------------------------------------------------
    async def erase(self, aid: str) -> None:
        """Remove account ``aid``'s member from every board, without SCAN: the all-time board,
        every board its registry names (recorded before each increment; those entries are then
        dropped from the registry) and, for boards written before the registry existed, the
        weeks a board can still be alive (``WEEK_TTL_SECONDS`` plus the current week).
        Idempotent; Redis down: ``ServiceUnavailable`` (run again)."""
        member = self.member(aid)
        registry = K.account_registry(aid)
        now = self._core.clock.now()
        keys = {K.leaderboard_all()}
        keys |= {K.leaderboard_week(week_id(now - d * 86400))
                 for d in range(0, WEEK_TTL_SECONDS // 86400 + 8, 7)}
        async with redis_guard("leaderboard.erase"):
            entries = await self._r.zrange(registry, 0, -1)
            mine: list[str] = []
            for entry in entries:
                kind, _, rest = entry.partition("|")
                key, _, value = rest.partition("|")
                if kind == "z" and value == member and key.startswith("leaderboard:"):
                    keys.add(key)
                    mine.append(entry)
            async with self._r.pipeline(transaction=True) as pipe:  # every board is in {pairs}
                for key in sorted(keys):
                    pipe.zrem(key, member)
                await pipe.execute()
            if mine:
                await self._r.zrem(registry, *mine)
