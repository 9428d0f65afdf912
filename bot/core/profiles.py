"""User profiles: language, time zone, consents, onboarding step, encrypted birth data.

A profile is one Redis hash (``profile:<uid>``), its fields stored under one- or two-letter
names (``STORED``: ``l`` lang, ``z`` tz, ``s`` step, ``c`` created, ``t`` terms_at, ``h``
share_at, ``b`` birth, ``bt`` birth_time, ``bz`` birth_tz, ``n`` name): ~30 B less per
profile than the long names written before. Long names are still read (a long name present
wins: it can only come from the older layout or a write that bypassed this module) and every
write drops the long twin of each field it writes (``profile_write.lua``), so a profile moves to
the short layout as it is edited and no migration is needed. Birth date, time and the optional birth
time zone (for the 사주 chart, when it differs from the profile's zone) are stored only as
AES-GCM ciphertext bound to the owner and the field (see ``crypto``) and never logged.
Redis down: every method raises ``ServiceUnavailable`` (``check_keys`` logs and skips).

Key rotation: ``rotate_keys`` re-encrypts every stored profile under the current key, one
profile at a time, each rewritten atomically (WATCH/MULTI); ``check_keys`` runs at start-up
and refuses to start when stored data names a key this process does not have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from redis.exceptions import WatchError

from bot.core.clock import Clock
from bot.core.crypto import FieldCipher, UnknownKeyId
from bot.core.errors import BotError, ErrorCode
from bot.core.i18n import Lang, normalize_lang
from bot.core.inputs import clean_display_name, parse_hhmm
from bot.core.logs import log_event
from bot.core.settings import SettingsError
from bot.core.store import REDIS_ERRORS, K, Store, redis_guard
from bot.core.timezones import parse_timezone, stored_timezone

__all__ = ["Profile", "Profiles", "STORED", "field_of", "stored_fields", "pick", "parse_birth_date", "parse_birth_time", "parse_timezone", "STEPS",
           "ENCRYPTED_FIELDS", "KeyCheckError", "KeyCheck", "RotationReport"]

#: Hash fields stored encrypted; the field name is part of each value's associated data.
ENCRYPTED_FIELDS = ("birth", "birth_time", "birth_tz")
#: Logical field -> stored hash field (short names; the logical name is the older layout's).
STORED = {"lang": "l", "tz": "z", "step": "s", "created": "c", "terms_at": "t", "share_at": "h",
          "birth": "b", "birth_time": "bt", "birth_tz": "bz", "name": "n"}


def field_of(raw: dict[str, str], name: str) -> str | None:
    """Logical field ``name`` of a stored profile hash, either layout."""
    value = raw.get(name)
    return value if value is not None else raw.get(STORED[name])


def stored_fields(names: list[str] | tuple[str, ...]) -> list[str]:
    """HMGET field list for ``names`` in both layouts: long names first, then short ones
    (``pick`` reads a reply back)."""
    return [*names, *(STORED[n] for n in names)]


def pick(names: list[str] | tuple[str, ...], values: list[str | None]) -> list[str | None]:
    """The values of ``names`` from an HMGET of ``stored_fields(names)``."""
    k = len(names)
    return [values[i] if values[i] is not None else values[k + i] for i in range(k)]


#: How many profiles the start-up check samples.
KEY_CHECK_SAMPLE = 200


class KeyCheckError(SettingsError):
    """Stored birth data cannot be read with the configured keys: start-up must stop."""


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What the start-up check saw in its sample of profiles."""

    sampled: int = 0
    kids: dict[str, int] = field(default_factory=dict)  # key id -> values seen
    legacy: int = 0  # v1 values (no key id)
    legacy_readable: int = 0
    skipped: bool = False  # Redis was unreachable


@dataclass
class RotationReport:
    """Counts from ``rotate_keys`` (one profile counts once per pass)."""

    scanned: int = 0
    rewritten: int = 0
    current: int = 0
    missing: int = 0
    unreadable: int = 0
    unknown_key: int = 0
    busy: int = 0
    cursor: int = 0

    def line(self) -> str:
        return " ".join(f"{k}={getattr(self, k)}" for k in (
            "scanned", "rewritten", "current", "unreadable", "unknown_key", "missing", "busy"))

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
    birth_tz: str | None = None  # the zone the birth time was read in; None = the profile's ``tz``

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
        self._scripts = store.scripts
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
        raw = {name: v for name in STORED if (v := field_of(raw, name)) is not None}
        birth = None
        if raw.get("birth"):
            plain = self._cipher.decrypt(raw["birth"], uid, "birth")
            try:
                birth = date.fromisoformat(plain) if plain else None
            except ValueError:  # a legacy (v1) value moved from another field
                birth = None
        birth_time = self._cipher.decrypt(raw["birth_time"], uid, "birth_time") if raw.get("birth_time") else None
        birth_tz = self._cipher.decrypt(raw["birth_tz"], uid, "birth_tz") if raw.get("birth_tz") else None
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
            birth_tz=stored_timezone(birth_tz, self._default_tz) if birth_tz else None,
        )

    async def create(self, uid: str, lang: Lang, display_name: str | None = None) -> Profile:
        """Start a profile at the first onboarding step (fields that exist, in either layout, are
        left alone). Idempotent; one script (atomic) for the profile, then the index in its own
        step (a crash in between: the next call adds it)."""
        profile = Profile(uid=uid, lang=lang, tz=self._default_tz, step="lang",
                          created=int(self._clock.now()), display_name=display_name)
        fields = {"lang": lang, "tz": self._default_tz, "step": "lang", "created": str(profile.created)}
        args = [a for name, value in fields.items() for a in (STORED[name], name, value, "nx")]
        if display_name:
            args += [STORED["name"], "name", display_name[:64], "set"]
        async with redis_guard("profiles.create"):
            await self._scripts["profile_write"](keys=[K.profile(uid)], args=args)
            await self._r.sadd(K.accounts_index(), uid)  # its own step: another slot on a cluster
        return await self.get(uid) or profile

    async def update(self, profile: Profile, **changes: object) -> Profile:
        """Write the changed fields; birth data is encrypted before it leaves the process."""
        fields: dict[str, str] = {}
        for name, value in changes.items():
            if name == "birth":
                fields["birth"] = (self._cipher.encrypt(value.isoformat(), profile.uid, "birth")
                                   if isinstance(value, date) else "")
            elif name == "birth_time":
                fields["birth_time"] = self._cipher.encrypt(str(value), profile.uid, "birth_time") if value else ""
            elif name == "birth_tz":
                fields["birth_tz"] = self._cipher.encrypt(str(value), profile.uid, "birth_tz") if value else ""
            elif name in ("lang", "tz", "step"):
                fields[name] = str(value)
            elif name in ("terms_at", "share_at"):
                fields[name] = "" if value is None else str(value)
            elif name == "display_name":
                fields["name"] = str(value or "")[:64]
            else:
                raise ValueError(f"unknown profile field {name}")
        args = [a for name, value in fields.items() for a in (STORED[name], name, value, "set")]
        async with redis_guard("profiles.update"):  # one script: short names set, long twins dropped
            await self._scripts["profile_write"](keys=[K.profile(profile.uid)], args=args)
        return replace(profile, **changes)  # type: ignore[arg-type]

    async def delete(self, uid: str) -> int:
        """Erase the profile (part of /delete, ``bot.core.erasure``). Idempotent."""
        async with redis_guard("profiles.delete"):
            return int(await self._r.delete(K.profile(uid)))

    # --- keys ------------------------------------------------------------------------------
    async def check_keys(self, sample: int = KEY_CHECK_SAMPLE) -> KeyCheck:
        """Start-up check: can this process read the stored birth data?

        Samples up to ``sample`` profiles (random members of the profiles index) and raises
        ``KeyCheckError`` when a value names a key id that is not configured, or when
        legacy ``v1`` values are present and none decrypts with any configured key (the key
        was changed without keeping the old one). Read-only. Redis down: logs and returns
        ``skipped`` (a value under a missing key still fails loudly when read).
        """
        try:
            uids = list(await self._r.srandmember(K.accounts_index(), sample) or [])
            async with self._r.pipeline(transaction=False) as pipe:
                for uid in uids:
                    pipe.hmget(K.profile(uid), stored_fields(ENCRYPTED_FIELDS))
                rows = [pick(ENCRYPTED_FIELDS, row) for row in await pipe.execute()] if uids else []
        except REDIS_ERRORS as exc:
            log_event("profile_key_check_skipped", level=30, error=type(exc).__name__)
            return KeyCheck(skipped=True)
        kids: dict[str, int] = {}
        legacy = legacy_ok = 0
        for uid, values in zip(uids, rows):
            for name, token in zip(ENCRYPTED_FIELDS, values):
                if not token:
                    continue
                version, kid = self._cipher.describe(token)
                if kid is not None:
                    kids[kid] = kids.get(kid, 0) + 1
                elif version == "v1":
                    legacy += 1
                    legacy_ok += self._cipher.decrypt(token, uid, name) is not None
        result = KeyCheck(len(uids), kids, legacy, legacy_ok)
        unknown = sorted(set(kids) - set(self._cipher.kids))
        configured = ", ".join(self._cipher.kids)
        if unknown:
            raise KeyCheckError(
                f"stored birth data is encrypted with key id(s) {', '.join(unknown)}, which this process "
                f"does not have (configured: {configured}). Add the missing key(s) to PROFILE_ENCRYPTION_KEYS "
                "after the current key and restart; see docs/OPERATIONS.md \"Encryption keys\".")
        if legacy and not legacy_ok:
            raise KeyCheckError(
                f"stored birth data (older v1 format) does not decrypt with any configured key "
                f"(configured: {configured}): PROFILE_ENCRYPTION_KEY was changed. Put the previous key in "
                "PROFILE_ENCRYPTION_KEYS after the new one, restart, then run `python -m bot rotate-keys`.")
        log_event("profile_keys_checked", sampled=result.sampled, kids=",".join(sorted(kids)) or "-",
                  legacy=legacy, current=self._cipher.current_kid)
        return result

    async def rotate_keys(self, *, batch: int = 200, cursor: int = 0,
                          progress: Callable[[RotationReport], None] | None = None) -> RotationReport:
        """Re-encrypt every stored profile's birth data under the current key (and as ``v2``).

        Walks the accounts index (``accounts:all``, SSCAN: one key, so it works the same on a
        cluster), starting at ``cursor`` (0 = from the start). Each profile is
        rewritten atomically with WATCH/MULTI: if it changes in between (the user edits it,
        /delete), the transaction aborts and is retried on fresh data, so no edit is lost and a
        deleted profile is never recreated. Idempotent and resumable: values already under the
        current key are left alone, so an interrupted run is simply run again (or resumed from
        the last printed cursor). A profile with an unreadable value or a value under a key
        this process lacks is left unchanged and counted. Redis down: raises ``ServiceUnavailable``
        (nothing half-written: each profile is one transaction).
        """
        report = RotationReport(cursor=cursor)
        while True:
            async with redis_guard("profiles.rotate_keys"):
                next_cursor, aids = await self._r.sscan(K.accounts_index(), cursor=report.cursor, count=batch)
                for aid in aids:
                    report.scanned += 1
                    outcome = await self._rotate_one(K.profile(aid), aid)
                    setattr(report, outcome, getattr(report, outcome) + 1)
            report.cursor = int(next_cursor)
            if progress is not None:
                progress(report)
            if report.cursor == 0:
                break
        log_event("profile_keys_rotated", current=self._cipher.current_kid, scanned=report.scanned,
                  rewritten=report.rewritten, unreadable=report.unreadable, unknown_key=report.unknown_key,
                  missing=report.missing, busy=report.busy)
        return report

    async def _rotate_one(self, key: str, uid: str, attempts: int = 10) -> str:
        """One profile: "rewritten", "current", "missing", "unreadable", "unknown_key" or "busy"."""
        for _ in range(attempts):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    values = pick(ENCRYPTED_FIELDS, await pipe.hmget(key, stored_fields(ENCRYPTED_FIELDS)))
                    if not any(values) and not await pipe.exists(key):
                        return "missing"
                    changes: dict[str, str] = {}
                    for name, token in zip(ENCRYPTED_FIELDS, values):
                        if not token or not self._cipher.needs_rotation(token):
                            continue
                        try:
                            plain = self._cipher.decrypt(token, uid, name)
                        except UnknownKeyId:
                            log_event("profile_rotate_unknown_key", level=30, user=uid, field=name)
                            return "unknown_key"
                        if plain is None:
                            log_event("profile_rotate_unreadable", level=30, user=uid, field=name)
                            return "unreadable"
                        changes[STORED[name]] = self._cipher.encrypt(plain, uid, name)
                    if not changes:
                        return "current"
                    pipe.multi()
                    pipe.hset(key, mapping=changes)
                    pipe.hdel(key, *(n for n in ENCRYPTED_FIELDS if STORED[n] in changes))
                    await pipe.execute()
                    return "rewritten"
                except WatchError:
                    continue
        return "busy"
