"""Invites and compatibility pairing (``/invite``, ``/join``), referral rewards.

Token format (a valid Telegram ``start`` payload: ``A–Z a–z 0–9 _ -``, 34 characters)::

    <invite id: 12 chars> <expiry: 6 chars> <signature: 16 chars>

* invite id — 9 random bytes, base64url (no padding);
* expiry — the invite's expiry in epoch seconds as 4 big-endian bytes, base64url;
* signature — the first 12 bytes of ``HMAC-SHA256(k, "<id><expiry>")``, base64url, where
  ``k = HMAC-SHA256(signing secret, "soul-lab/invite-token/v1")`` and the signing secret is
  ``core.signing_secret`` (``SIGNING_SECRET``, or the development secret shared through
  Redis — see ``bot.core.secrets``), so every process on one Redis verifies every token.

The signature covers the token *text*, and the id and signature use whole base64 groups, so
changing any single character (or any other alteration) is detected; a garbage, truncated or
altered token is a ``VALIDATION_ERROR`` before Redis is touched. The expiry inside the token lets
an expired invite be told apart even after its record is gone.

Redis: ``invite:<id>`` hash (inviter, status pending|paired|revoked, token, created, exp, invitee,
paired_at, day, rw_inviter, rw_invitee), kept ``ttl + 30 days``; ``invite:user:<uid>`` (the
inviter's recent invites); ``pair:<min>|<max>`` hash (who invited whom, when, which invite; other
features check it exists); ``pairs:<uid>`` (everyone a user is paired with);
``invite:pairseen:<hmac of the pair>`` (forever: this pair was counted on the leaderboard once);
``invite:inviteepaid:<hmac of the invitee>`` (forever: this person received the invitee reward);
``invite:rewardday:<hmac of the inviter>:<day>`` (inviter rewards paid that day in the service time zone, profile.default_timezone; 2 days).

Rewards (inviter +5, invitee +3) are paid only for a brand-new pair (never counted before), and:

* the inviter: at most ``referral_rewards_per_day`` (``REFERRAL_REWARDS_PER_DAY``) per local
  day of the inviter; a later pairing that day still pairs (compatibility shown), the inviter
  is told kindly that today's rewards are used up;
* the invitee: at most once per person *ever*, whoever invites them, also after /delete and
  onboarding again (the marker is a keyed hash of the uid, so it reveals nothing).

Atomicity: pairing and both reward *decisions* are one Lua script (``invite_accept.lua``):
exactly two people per invite however many accept at once, and concurrent accepts of
different invites by one inviter can never pass the daily cap (the counter is read and
incremented inside the script). The decisions are stored on the invite. The grants follow
through the ledger as kind ``reward`` with idempotency key ``pair-reward:<hmac of the sorted
pair>`` kept forever, so a pair is paid once *ever*. Crash between the script and the grants:
the pairing and decisions stand, the credits are missing; the invitee opening the invite again
("replay") re-applies exactly the recorded grants, idempotently. Nothing is ever paid twice;
the worst case of a crash that is never replayed is a reward slot used without its credits.
Redis down: ``ServiceUnavailable`` before or after the script, never in the middle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.clock import local_day
from bot.core.credits import LedgerResult
from bot.core.errors import BotError, ErrorCode
from bot.core.i18n import t
from bot.core.inputs import clean_display_name
from bot.core.leaderboard import WEEK_TTL_SECONDS, Leaderboard, week_id
from bot.core.logs import log_event, pair_scope
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.reply import Reply
    from bot.core.service import Core

__all__ = [
    "TokenCodec", "InviteToken", "Invite", "Acceptance", "Invites", "accept_from_http",
    "http_landing", "TOKEN_LEN", "RECORD_RETENTION_SECONDS",
]

ID_BYTES = 9
SIG_BYTES = 12
_ID_LEN = 12
_EXP_LEN = 6
_SIG_LEN = 16
TOKEN_LEN = _ID_LEN + _EXP_LEN + _SIG_LEN  # 34
_TOKEN_RE = re.compile(rf"^[A-Za-z0-9_-]{{{TOKEN_LEN}}}$")
#: An invite record (and its token's "used"/"expired" answers) is kept this long after expiry.
RECORD_RETENTION_SECONDS = 30 * 86400
#: How many of the newest invites are searched for a pending one (``/invite new``).
HISTORY_SIZE = 20
REWARD_FEATURE = "fortune_details"
#: The per-inviter daily reward counter outlives the longest local day (any time zone).
REWARD_DAY_TTL_SECONDS = 2 * 86400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bad_token() -> BotError:
    return BotError(ErrorCode.VALIDATION_ERROR, "invite.bad_token")


@dataclass(frozen=True, slots=True)
class InviteToken:
    invite_id: str
    exp: int  # epoch seconds
    token: str


class TokenCodec:
    """Signs and verifies invite tokens (see the module docstring for the format)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"soul-lab/invite-token/v1", hashlib.sha256).digest()

    def _sig(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()[:SIG_BYTES])

    @staticmethod
    def new_id() -> str:
        return _b64(secrets.token_bytes(ID_BYTES))

    def make(self, invite_id: str, exp: int) -> str:
        if len(invite_id) != _ID_LEN or not 0 < exp < 2**32:
            raise ValueError("bad invite id or expiry")
        body = invite_id + _b64(struct.pack(">I", exp))
        return body + self._sig(body)

    def parse(self, token: str) -> InviteToken:
        """Verify ``token``; raises ``BotError(VALIDATION_ERROR)`` for anything not issued by us."""
        token = (token or "").strip()
        if not _TOKEN_RE.fullmatch(token):
            raise _bad_token()
        body, sig = token[:-_SIG_LEN], token[-_SIG_LEN:]
        if not hmac.compare_digest(self._sig(body), sig):
            raise _bad_token()
        exp_text = body[_ID_LEN:]
        try:
            exp_raw = _unb64(exp_text)
        except (binascii.Error, ValueError):
            raise _bad_token() from None
        if len(exp_raw) != 4 or _b64(exp_raw) != exp_text:  # canonical encoding only
            raise _bad_token()
        (exp,) = struct.unpack(">I", exp_raw)
        return InviteToken(body[:_ID_LEN], exp, token)


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    inviter: str
    status: str  # pending | paired | revoked (stored); see ``state``
    token: str
    created_ms: int
    exp_ms: int
    invitee: str | None = None
    paired_at_ms: int | None = None
    day: str | None = None

    def state(self, now_ms: int) -> str:
        """What the user sees: pending, paired, expired or revoked."""
        if self.status == "pending" and now_ms >= self.exp_ms:
            return "expired"
        return self.status

    @classmethod
    def from_hash(cls, invite_id: str, raw: dict[str, str]) -> Invite | None:
        if not raw or not raw.get("inviter"):
            return None
        return cls(invite_id, raw["inviter"], raw.get("status", "pending"), raw.get("token", ""),
                   int(raw.get("created") or 0), int(raw.get("exp") or 0), raw.get("invitee") or None,
                   int(raw["paired_at"]) if raw.get("paired_at") else None, raw.get("day") or None)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The outcome of an accept that did not fail.

    ``status``: "paired" (this call paired them), "replay" (the caller had already accepted this
    invite; nothing new happens, missing rewards are re-applied idempotently) or "self" (the inviter
    opened their own invite; nothing happens).
    """

    status: str
    invite_id: str
    inviter: str
    invitee: str
    day: str = ""
    counted: bool = False  # a brand-new pair: counted on the leaderboard
    inviter_reward: LedgerResult | None = None
    invitee_reward: LedgerResult | None = None
    inviter_amount: int = 0
    invitee_amount: int = 0
    #: Reward outcomes decided by the pairing script: "1" paid, "0" none (pair rewarded before /
    #: not configured), "c" inviter over today's cap, "o" invitee already rewarded once ever.
    inviter_outcome: str = "0"
    invitee_outcome: str = "0"

    @property
    def inviter_capped(self) -> bool:
        """The inviter got nothing for this new pair because today's reward cap was reached."""
        return self.inviter_outcome == "c"

    @property
    def invitee_rewarded_before(self) -> bool:
        """The invitee got nothing because they received an invitee reward once before."""
        return self.invitee_outcome == "o"

    @property
    def new_pair(self) -> bool:
        return self.status == "paired"

    def paid(self, uid: str) -> int:
        """Credits this acceptance paid to ``uid`` just now (0 when already paid before)."""
        if uid == self.inviter:
            res, amount = self.inviter_reward, self.inviter_amount
        elif uid == self.invitee:
            res, amount = self.invitee_reward, self.invitee_amount
        else:
            return 0
        return 0 if res is None or res.replayed else amount


def _end_of_local_day(day: date, tz: str) -> int:
    nxt = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    return int(nxt.timestamp())


class Invites:
    """The invite service. One per Core (``core.extras["invites"]``)."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._r = core.store.redis
        self.cfg = core.settings.product.invites
        secret = core.signing_secret
        self.codec = TokenCodec(secret)
        self._pair_key = hmac.new(secret, b"soul-lab/pair/v1", hashlib.sha256).digest()
        self._person_key = hmac.new(secret, b"soul-lab/referral-person/v1", hashlib.sha256).digest()
        self.leaderboard: Leaderboard = core.extras.get("leaderboard") or Leaderboard(core)

    # --- helpers ---------------------------------------------------------------------
    def pair_digest(self, a: str, b: str) -> str:
        x, y = sorted((a, b))
        return hmac.new(self._pair_key, f"{x}|{y}".encode(), hashlib.sha256).hexdigest()[:32]

    def person_digest(self, uid: str) -> str:
        """A keyed hash of one uid for the reward markers (no raw id in those keys)."""
        return hmac.new(self._person_key, uid.encode(), hashlib.sha256).hexdigest()[:32]

    def _now_ms(self) -> int:
        return self._core.clock.now_ms()

    # --- issuing -----------------------------------------------------------------------
    async def issue(self, uid: str, *, replace: str | None = None) -> Invite:
        """A new pending invite for ``uid``; with ``replace`` (an invite id) that one is revoked.

        Reissuing is allowed only to the inviter (else ``FORBIDDEN``) and only while the old
        invite is pending (else ``CONFLICT``). Rate limits are the caller's job (``invite_user``).
        """
        now_ms = self._now_ms()
        exp = int(now_ms // 1000) + self.cfg.ttl_seconds
        script = self._core.store.scripts["invite_issue"]
        for _ in range(3):  # an id collision is astronomically unlikely; retry anyway
            invite_id = self.codec.new_id()
            token = self.codec.make(invite_id, exp)
            keys = [K.invite(invite_id), K.invites_of(uid)]
            if replace:
                keys.append(K.invite(replace))
            args = [uid, invite_id, token, now_ms, exp * 1000, self.cfg.ttl_seconds + RECORD_RETENTION_SECONDS]
            async with redis_guard("invites.issue"):
                res = await script(keys=keys, args=args)
            status = str(res[0])
            if status == "ok":
                log_event("invite_issued", user=uid, invite=invite_id, replaces=replace)
                return Invite(invite_id, uid, "pending", token, now_ms, exp * 1000)
            if status == "missing":
                raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
            if status == "forbidden":
                log_event("invite_reissue_forbidden", user=uid)  # not the invite id: it names its owner
                raise BotError(ErrorCode.FORBIDDEN, "invite.not_yours")
            if status == "not_pending":
                raise BotError(ErrorCode.CONFLICT, "invite.not_pending")
        raise BotError(ErrorCode.INTERNAL_ERROR)

    async def reissue(self, uid: str, token: str | None = None) -> tuple[Invite, Invite]:
        """Revoke a pending invite (the given token, or the caller's latest pending one) and
        issue a replacement. Returns (old, new)."""
        if token:
            parsed = self.codec.parse(token)
            old = await self.get(parsed.invite_id)
            if old is None:
                if parsed.exp * 1000 <= self._now_ms():
                    raise BotError(ErrorCode.CONFLICT, "invite.not_pending")
                raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
            if old.inviter != uid:
                log_event("invite_reissue_forbidden", user=uid)
                raise BotError(ErrorCode.FORBIDDEN, "invite.not_yours")
        else:
            found = await self.latest_pending(uid)
            if found is None:
                raise BotError(ErrorCode.NOT_FOUND, "invite.none_pending")
            old = found
        new = await self.issue(uid, replace=old.id)
        return old, new

    # --- reads -------------------------------------------------------------------------
    async def get(self, invite_id: str) -> Invite | None:
        async with redis_guard("invites.get"):
            raw = await self._r.hgetall(K.invite(invite_id))
        return Invite.from_hash(invite_id, raw)

    async def list_for(self, uid: str, limit: int = 10) -> list[Invite]:
        """The inviter's most recent invites, newest first."""
        async with redis_guard("invites.list"):
            ids = await self._r.zrevrange(K.invites_of(uid), 0, max(0, limit - 1))
            async with self._r.pipeline(transaction=False) as pipe:
                for invite_id in ids:
                    pipe.hgetall(K.invite(invite_id))
                raws = await pipe.execute() if ids else []
        out = [Invite.from_hash(i, raw) for i, raw in zip(ids, raws, strict=True)]
        return [inv for inv in out if inv is not None]

    async def latest_pending(self, uid: str) -> Invite | None:
        now = self._now_ms()
        for inv in await self.list_for(uid, HISTORY_SIZE):
            if inv.state(now) == "pending":
                return inv
        return None

    async def pairs_of(self, uid: str, limit: int = 50) -> list[tuple[str, int]]:
        """(other uid, paired_at ms), most recent first."""
        async with redis_guard("invites.pairs"):
            rows = await self._r.zrevrange(K.pairs_of(uid), 0, max(0, limit - 1), withscores=True)
        return [(m, int(s)) for m, s in rows]

    async def pair_count(self, uid: str) -> int:
        async with redis_guard("invites.pairs"):
            n = await self._r.zcard(K.pairs_of(uid))
        return int(n)

    async def is_paired(self, a: str, b: str) -> bool:
        async with redis_guard("invites.pair"):
            n = await self._r.exists(K.pair(a, b))
        return bool(n)

    # --- accepting -----------------------------------------------------------------------
    async def accept(self, uid: str, token: str, *, client_ip: str | None = None) -> Acceptance:
        """``uid`` accepts the invite ``token``.

        Raises ``BotError``: ``VALIDATION_ERROR`` forged/altered/garbage token, ``CONFLICT``
        already used by someone else, ``NOT_FOUND`` expired / replaced / unknown invite,
        ``RATE_LIMITED``. Rewards and the day's unlock are applied here, idempotently.

        Logged inside ``pair_scope``: no line written while accepting names either side
        (the invitee is named once, by the router's ``command_handled`` line).
        """
        with pair_scope():
            return await self._accept(uid, token, client_ip=client_ip)

    async def _accept(self, uid: str, token: str, *, client_ip: str | None) -> Acceptance:
        core = self._core
        parsed = self.codec.parse(token)
        if client_ip:
            await core.limiter.check("invite_ip", client_ip)
        await core.limiter.check("reward", uid)
        invite = await self.get(parsed.invite_id)
        now_ms = self._now_ms()
        if invite is None:
            if parsed.exp * 1000 <= now_ms:
                raise BotError(ErrorCode.NOT_FOUND, "invite.expired")
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        inviter = invite.inviter
        if inviter == uid:
            return Acceptance("self", invite.id, inviter, uid)
        inviter_profile = await core.profiles.get(inviter)
        if inviter_profile is None or not inviter_profile.onboarded:
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        if not inviter_profile.can_share:  # withdrew the sharing consent (see partner_shares)
            raise BotError(ErrorCode.FORBIDDEN, "invite.inviter_not_sharing")
        me = await core.profiles.get(uid)
        tz = me.tz if me else core.settings.product.profile.default_timezone
        day = local_day(core.clock, tz).isoformat()
        # The cap's day is the service's day (Asia/Seoul by default), not the inviter's chosen
        # zone: changing /timezone must not open a fresh day of rewards.
        inviter_day = local_day(core.clock, core.settings.product.profile.default_timezone).isoformat()
        keys = [K.invite(invite.id), K.pair(inviter, uid), K.pairs_of(inviter), K.pairs_of(uid),
                K.pair_seen(self.pair_digest(inviter, uid)), K.leaderboard_all(),
                K.leaderboard_week(week_id(now_ms / 1000)),
                K.referral_rewards_day(self.person_digest(inviter), inviter_day),
                K.invitee_rewarded(self.person_digest(uid))]
        args = [inviter, uid, now_ms, invite.id, self.leaderboard.member(inviter), WEEK_TTL_SECONDS, day,
                self.cfg.referral_rewards_per_day, REWARD_DAY_TTL_SECONDS,
                1 if self.cfg.inviter_reward > 0 else 0, 1 if self.cfg.invitee_reward > 0 else 0]
        async with redis_guard("invites.accept"):
            res = await core.store.scripts["invite_accept"](keys=keys, args=args)
        status = str(res[0])
        if status == "self":
            return Acceptance("self", invite.id, inviter, uid)
        if status == "used":
            log_event("invite_used")
            raise BotError(ErrorCode.CONFLICT, "invite.used")
        if status == "expired":
            raise BotError(ErrorCode.NOT_FOUND, "invite.expired")
        if status == "revoked":
            raise BotError(ErrorCode.NOT_FOUND, "invite.revoked")
        if status not in ("paired", "replay"):
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        paired_at_ms = int(res[1] or 0)
        day = str(res[2] or day)
        counted = status == "paired" and int(res[3]) == 1
        outcomes = (str(res[4]), str(res[5]))
        if status == "paired":
            log_event("invite_paired", new_pair=counted)  # no ids and no invite id: they would link the pair
        inviter_res, invitee_res = await self._settle(inviter, inviter_profile, uid, me, paired_at_ms,
                                                      outcomes)
        return Acceptance(status, invite.id, inviter, uid, day, counted, inviter_res, invitee_res,
                          self.cfg.inviter_reward, self.cfg.invitee_reward, outcomes[0], outcomes[1])

    async def _settle(self, inviter: str, inviter_profile: Profile, invitee: str,
                      invitee_profile: Profile | None, paired_at_ms: int, outcomes: tuple[str, str],
                      ) -> tuple[LedgerResult | None, LedgerResult | None]:
        """The rewards the pairing script decided (``outcomes``, "1" = pay) and today's
        fortune-details unlock. Idempotent (ledger key per pair, kept forever)."""
        core = self._core
        idem = f"pair-reward:{self.pair_digest(inviter, invitee)}"
        results: list[LedgerResult | None] = []
        for who, amount, reason, outcome in (
                (inviter, self.cfg.inviter_reward, "invite reward (inviter)", outcomes[0]),
                (invitee, self.cfg.invitee_reward, "invite reward (invitee)", outcomes[1])):
            if amount > 0 and outcome == "1":
                results.append(await core.ledger.grant(who, amount, reason, idem, kind="reward",
                                                       keep_forever=True))
            else:
                results.append(None)
        default_tz = core.settings.product.profile.default_timezone
        for who, profile in ((inviter, inviter_profile), (invitee, invitee_profile)):
            tz = profile.tz if profile else default_tz
            today = local_day(core.clock, tz)
            paired_day = datetime.fromtimestamp(paired_at_ms / 1000, ZoneInfo(tz)).date()
            if paired_day != today:
                continue  # a replay on a later day does not unlock that later day
            # relative expiry (the server's clock may differ from ours): an hour after the local day
            ttl = max(60, _end_of_local_day(today, tz) + 3600 - int(core.clock.now()))
            async with redis_guard("invites.unlock"):
                await self._r.set(K.unlock(who, REWARD_FEATURE, today.isoformat()), "invite", ex=ttl)
        return results[0], results[1]

    # --- /delete -------------------------------------------------------------------------
    async def erase(self, uid: str) -> None:
        """Remove the user's invites (their tokens stop working), pairs and leaderboard entries."""
        r = self._r
        async with redis_guard("invites.erase"):
            ids = await r.zrange(K.invites_of(uid), 0, -1)
            if ids:
                await r.delete(*[K.invite(i) for i in ids])
            await r.delete(K.invites_of(uid))
            others = await r.zrange(K.pairs_of(uid), 0, -1)
            for other in others:
                pair_key = K.pair(uid, other)
                invite_id = await r.hget(pair_key, "invite")
                if invite_id and await r.hget(K.invite(invite_id), "invitee") == uid:
                    await r.hset(K.invite(invite_id), "invitee", "deleted")
                await r.delete(pair_key)
                await r.zrem(K.pairs_of(other), uid)
            await r.delete(K.pairs_of(uid))
        await self.leaderboard.erase(uid)
        log_event("invites_erased", user=uid, pairs=len(others))


# --- consent -------------------------------------------------------------------------------

async def partner_shares(core: Core, uid: str) -> bool:
    """Whether ``uid`` still consents to third-party sharing, i.e. whether the people paired
    with them may see their sign, zodiac animal, compatibility and name (``/consent off``
    withdraws it). Every pairing-based reading checks the *partner* with this before any
    charge. A missing profile shares nothing. Read-only; Redis down: ``ServiceUnavailable``.
    """
    profile = await core.profiles.get(uid)
    return profile is not None and profile.can_share


# --- presentation helpers shared by the commands and the HTTP landing ----------------------

def partner_name(profile: Profile | None, lang: str) -> str:
    """How a paired friend is named: the display name they agreed to share, else "your friend".

    Never the leaderboard pseudonym (that would tell a friend which board entry is theirs),
    and not the name of someone who withdrew the sharing consent (``partner_shares``).
    """
    if profile is not None and profile.can_share and profile.display_name:
        name = clean_display_name(profile.display_name)
        if name:  # no control, zero-width or bidi-override characters; at most NAME_MAX characters
            return f"{name}님" if lang == "ko" else name
    return t(lang, "invite.friend_fallback")


async def http_landing(core: Core, token: str, client_ip: str) -> dict[str, Any]:
    """What an HTTP invite landing page may show about ``token`` (no user identity, no names).

    Checks ``invite_ip`` for the client address. Returns ``{"valid": bool, "state": ...}``;
    a forged token is ``{"valid": False, "state": "invalid"}``.
    """
    await core.limiter.check("invite_ip", client_ip or "unknown")
    invites: Invites = core.extras["invites"]
    try:
        parsed = invites.codec.parse(token)
    except BotError:
        return {"valid": False, "state": "invalid"}
    inv = await invites.get(parsed.invite_id)
    now = core.clock.now_ms()
    if inv is None:
        return {"valid": False, "state": "expired" if parsed.exp * 1000 <= now else "unknown"}
    state = inv.state(now)
    return {"valid": state == "pending", "state": state, "expires_at": parsed.exp}


async def accept_from_http(core: Core, token: str, client_ip: str, uid: str) -> list[Reply]:
    """Accept ``token`` for ``uid`` arriving through HTTP (limited per client address with
    ``invite_ip``), with the same replies, rewards and notifications as ``/join``."""
    from bot.core.features.invite_cmd import join_flow

    await core.limiter.check("invite_ip", client_ip or "unknown")
    return await join_flow(core, uid, token)
