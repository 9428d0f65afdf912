"""User profiles: language, time zone, consents, onboarding step, encrypted birth data.

A profile is one Redis hash (``profile:<uid>``). Birth date and time are stored only as
AES-GCM ciphertext (see ``crypto``) and never logged. Redis down: every method raises
``ServiceUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.core.clock import Clock
from bot.core.crypto import FieldCipher
from bot.core.errors import BotError, ErrorCode
from bot.core.i18n import Lang, normalize_lang
from bot.core.inputs import clean_display_name, parse_hhmm
from bot.core.store import K, Store, redis_guard
from bot.core.timezones import parse_timezone, stored_timezone

__all__ = ["Profile", "Profiles", "parse_birth_date", "parse_birth_time", "parse_timezone", "STEPS"]

#: Onboarding steps in order; "done" means onboarded.
STEPS = ("lang", "terms", "share", "birth", "time", "tz", "done")


@dataclass(frozen=True, slots=True)
class Profile:
    uid: str
    lang: Lang
    tz: str
    step: str
    created: int
    terms_at: int | None = None
    share_at: int | None = None
    birth: date | None = None
    birth_time: str | None = None
    display_name: str | None = None

    @property
    def onboarded(self) -> bool:
        return self.step == "done" and self.birth is not None

    @property
    def can_share(self) -> bool:
        """Third-party sharing consent (needed before invites)."""
        return self.share_at is not None


def parse_birth_date(text: str, today: date) -> date:
    """``YYYY-MM-DD``, a real date, not in the future, not before 1900."""
    text = text.strip()
    try:
        if len(text) != 10:
            raise ValueError
        value = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise BotError(ErrorCode.VALIDATION_ERROR, "profile.bad_birth_date") from None
    if value.year < 1900:
        raise BotError(ErrorCode.VALIDATION_ERROR, "profile.birth_too_old")
    if value > today:
        raise BotError(ErrorCode.VALIDATION_ERROR, "profile.birth_in_future")
    return value


def parse_birth_time(text: str) -> str:
    """``HH:MM`` with the colon (or ``H시 MM분``); bare digits like ``0730`` are refused."""
    value = parse_hhmm(text)
    if value is None:
        raise BotError(ErrorCode.VALIDATION_ERROR, "profile.bad_birth_time")
    return value


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw else None


class Profiles:
    def __init__(self, store: Store, cipher: FieldCipher, clock: Clock, default_tz: str) -> None:
        self._r = store.redis
        self._cipher = cipher
        self._clock = clock
        self._default_tz = default_tz

    async def get(self, uid: str) -> Profile | None:
        async with redis_guard("profiles.get"):
            raw = await self._r.hgetall(K.profile(uid))
        return self.parse(uid, raw)

    def parse(self, uid: str, raw: dict[str, str]) -> Profile | None:
        """A Profile from the stored hash (None for an empty hash); decrypts birth data."""
        if not raw:
            return None
        birth = None
        if raw.get("birth"):
            plain = self._cipher.decrypt(raw["birth"], uid)
            birth = date.fromisoformat(plain) if plain else None
        birth_time = self._cipher.decrypt(raw["birth_time"], uid) if raw.get("birth_time") else None
        return Profile(
            uid=uid,
            lang=normalize_lang(raw.get("lang")),
            tz=stored_timezone(raw.get("tz"), self._default_tz),  # links -> canonical; bad -> default
            step=raw.get("step", "lang"),
            created=int(raw.get("created", 0)),
            terms_at=_int_or_none(raw.get("terms_at")),
            share_at=_int_or_none(raw.get("share_at")),
            birth=birth,
            birth_time=birth_time,
            display_name=clean_display_name(raw.get("name")),
        )

    async def create(self, uid: str, lang: Lang, display_name: str | None = None) -> Profile:
        """Start a profile at the first onboarding step (no-op fields if it exists)."""
        profile = Profile(uid=uid, lang=lang, tz=self._default_tz, step="lang",
                          created=int(self._clock.now()), display_name=display_name)
        async with redis_guard("profiles.create"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hsetnx(K.profile(uid), "lang", lang)
                pipe.hsetnx(K.profile(uid), "tz", self._default_tz)
                pipe.hsetnx(K.profile(uid), "step", "lang")
                pipe.hsetnx(K.profile(uid), "created", profile.created)
                if display_name:
                    pipe.hset(K.profile(uid), "name", display_name[:64])
                pipe.sadd(K.profiles_index(), uid)
                await pipe.execute()
        return await self.get(uid) or profile

    async def update(self, profile: Profile, **changes: object) -> Profile:
        """Write the changed fields; birth data is encrypted before it leaves the process."""
        fields: dict[str, str] = {}
        for name, value in changes.items():
            if name == "birth":
                fields["birth"] = (self._cipher.encrypt(value.isoformat(), profile.uid)
                                   if isinstance(value, date) else "")
            elif name == "birth_time":
                fields["birth_time"] = self._cipher.encrypt(str(value), profile.uid) if value else ""
            elif name in ("lang", "tz", "step"):
                fields[name] = str(value)
            elif name in ("terms_at", "share_at"):
                fields[name] = "" if value is None else str(value)
            elif name == "display_name":
                fields["name"] = str(value or "")[:64]
            else:
                raise ValueError(f"unknown profile field {name}")
        async with redis_guard("profiles.update"):
            await self._r.hset(K.profile(profile.uid), mapping=fields)
        return replace(profile, **changes)  # type: ignore[arg-type]

    async def delete(self, uid: str) -> int:
        """Erase the profile and every per-user key (sessions, unlocks, caches).

        The ledger is anonymised separately by ``Ledger.anonymise``. Returns keys removed.
        """
        removed = 0
        async with redis_guard("profiles.delete"):
            for pattern in K.user_keys_pattern(uid):
                batch = [k async for k in self._r.scan_iter(match=pattern, count=500)]
                if batch:
                    removed += await self._r.delete(*batch)
            removed += await self._r.delete(K.profile(uid))
            await self._r.srem(K.profiles_index(), uid)
        return removed
