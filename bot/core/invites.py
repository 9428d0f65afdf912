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

Redis (key layout v2; every script and transaction touches ONE hash slot):

* ``invite:<id>`` hash (its own slot): inviter (account id), status pending|paired|revoked,
  token, created, exp, invitee (account id), paired_at, day, revoked_at, replaced_by; kept
  ``ttl + 30 days``;
* ``invite:user:{<aid>}`` (the inviter's recent invites, the account's slot);
* ``pairs:{<aid>}`` zset other account id -> paired_at ms (the account's slot): everyone the
  account is paired with; "is paired" is a ZSCORE on it;
* the ``{pairs}`` family (one slot): ``invite:{pairs}:decided:<invite id>`` (the pairing's
  decisions: counted, rw_inviter, rw_invitee, at, done; kept like the invite),
  ``invite:{pairs}:seen:<keyed hash of the two persons>`` (forever: this pair was counted once),
  ``invite:{pairs}:inviteepaid:<person digest>`` (forever: this person received the invitee
  reward), ``invite:{pairs}:rewardday:<person digest>:<day>`` (inviter rewards paid that service
  day, profile.default_timezone; 2 days) and the leaderboards (``bot.core.leaderboard``).

Once-per-person markers are keyed by the **person** digest of the account's platform identity
(``core.accounts.person``), not by the account id: /delete and onboarding again makes a new
account of the same person, which must not earn the invitee reward or a "new pair" again.

Rewards (inviter +5, invitee +3) are paid only for a brand-new pair (never counted before), and:

* the inviter: at most ``referral_rewards_per_day`` (``REFERRAL_REWARDS_PER_DAY``) per service
  day; a later pairing that day still pairs (compatibility shown), the inviter is told kindly
  that today's rewards are used up;
* the invitee: at most once per person *ever*, whoever invites them, also after /delete and
  onboarding again.

Accepting (``accept``) is four steps after the reads; every script touches one slot, and each
step's calls go out in one pipeline together with other pairings' concurrent calls
(``bot.core.store.coalesce``: in order per caller, one server; one by one on a cluster).
Registry entries (``core.accounts.track``) are written *before* the data they record, so
erasure finds everything without SCAN:

(reads) the ``reward`` limit with the invitee's profile and account meta (one script of the
    limiter) and the invite hash (the same batch), then the inviter's profile and meta. Refusals visible here
    (unknown, expired, used, self, inviter gone or not sharing) write nothing.
(a) one batch, in order: both registries — the invitee's: the invite's ``invitee`` field and its member
    in the inviter's ``pairs:`` zset; the inviter's: its leaderboard member in both boards and
    its member in the invitee's ``pairs:`` zset — then ``invite_claim.lua`` on the invite hash:
    exactly one account claims an invite (status paired, invitee, paired_at, day); the same
    account again gets "replay" with the recorded paired_at and day.
(b) one batch of three independent, idempotent scripts: ``pair_decide.lua`` in ``{pairs}``
    (counted: pair-seen marker; inviter reward: daily cap counter; invitee reward:
    once-per-person marker; the leaderboard increments; all stored in the decision hash, a
    retry returns the stored decision and increments nothing) and ``pair_link.lua`` in each
    account's slot (``ZADD GT`` of the partner into its ``pairs:`` zset and, on its local
    pairing day, the fortune-details unlock after its registry entry).
(c) the decided grants through the ledger (one batch: two accounts, two slots), idempotency
    key ``pair-reward:<hmac(me|other)>`` in each account's own slot (two different keys: the two
    ledgers share no identifier; reasons name neither the partner nor the invite).
(d) ``pair_finish.lua`` (``HSETNX done``) on the decision hash: the call that sets it is the one
    that "paired" (the inviter is notified once); every other call is a "replay".

A crash (or Redis failing) between steps, and the retry that completes it (the durable inbox
delivers the update again; the invitee opening the link again does the same):

* before (a)'s claim: only registry entries exist (erasure checks them before acting). The
  retry starts over.
* after (a): the invite is the invitee's (others get "used"); the retry's claim is a "replay"
  with the recorded paired_at and day, so (b) decides for the original service day and week.
* within or after (b): the decision, counters, markers and leaderboard moved at most once; the
  retry's ``pair_decide`` returns the stored decision (nothing counted twice), ``pair_link``
  repeats nothing, and (c)-(d) complete.
* within (c): each grant is idempotent, the missing one is paid exactly once.
* after (c): the retry sets ``done``, answers "paired" and notifies the inviter then.
Nothing is ever paid, counted or ranked twice. If the invitee never comes back after a crash
after (b), the worst case is a reward slot used without its credits. A retry more than two days
later (the day counter expired) could pay one inviter reward over that old day's cap.
Redis down: ``ServiceUnavailable`` at the step it happened; the retry completes the rest.

Issuing (``issue``) is one batch (in order, sent with other callers' calls as above), ordered
so a crash leaves at worst an orphan that expires: 1. (for ``/invite new``) read and check the
invite being replaced; 2. the inviter's registry gets the new invite's key (plain commands, so
nothing can reorder them: they run first); 3. ``invite_issue.lua`` creates the record (its
slot); 4. ``invite_list_add.lua`` lists its id in the inviter's history (the account's slot);
5. ``invite_revoke.lua`` revokes the replaced invite (its slot) only if it is still pending — if
it was accepted meanwhile, the new invite is withdrawn and the caller gets ``CONFLICT``. A crash
after 2 leaves a registry entry naming no record (erasure finds nothing to delete; it expires);
after 3 an unlisted record never shown (erasure finds it through the registry; it expires);
after 4 a listed invite never shown; after 5 a retried ``/invite new <token>`` finds the old
invite replaced by our pending one and returns that (no second one). If Redis lost its script
cache, each script is loaded and run again after the batch's other calls (``Coalescer``), so
3 and 4 may swap: a listed id without a record, which the history skips and which expires.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.accounts import NEVER, Accounts
from bot.core.clock import local_day
from bot.core.credits import Grant, LedgerResult
from bot.core.errors import BotError, ErrorCode
from bot.core.hashing import KeyedHash
from bot.core.ids import random_bytes
from bot.core.i18n import t
from bot.core.inputs import clean_display_name
from bot.core.leaderboard import WEEK_TTL_SECONDS, Leaderboard, week_id
from bot.core.logs import log_event, pair_scope
from bot.core.ratelimit import RateLimited
from bot.core.store import K, redis_guard
from bot.core.accounts import person_in
from bot.core.store.coalesce import Call, Script

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
        self._key = KeyedHash(hmac.digest(secret, b"soul-lab/invite-token/v1", "sha256"))

    def _sig(self, body: str) -> str:
        return _b64(self._key.digest(body.encode("ascii"))[:SIG_BYTES])

    @staticmethod
    def new_id() -> str:
        return _b64(random_bytes(ID_BYTES))

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
    inviter: str  # account id
    status: str  # pending | paired | revoked (stored); see ``state``
    token: str
    created_ms: int
    exp_ms: int
    invitee: str | None = None  # account id (removed when that account is erased)
    paired_at_ms: int | None = None
    day: str | None = None
    replaced_by: str | None = None

    def state(self, now_ms: int) -> str:
        """What the user sees: pending, paired, expired or revoked."""
        if self.status == "pending" and now_ms >= self.exp_ms:
            return "expired"
        return self.status

    @property
    def record_expiry_ms(self) -> int:
        """When the invite's record (and its pairing decision) expires."""
        return self.exp_ms + RECORD_RETENTION_SECONDS * 1000

    @classmethod
    def from_hash(cls, invite_id: str, raw: dict[str, str]) -> Invite | None:
        if not raw or not raw.get("inviter"):
            return None
        return cls(invite_id, raw["inviter"], raw.get("status", "pending"), raw.get("token", ""),
                   int(raw.get("created") or 0), int(raw.get("exp") or 0), raw.get("invitee") or None,
                   int(raw["paired_at"]) if raw.get("paired_at") else None, raw.get("day") or None,
                   raw.get("replaced_by") or None)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The outcome of an accept that did not fail.

    ``status``: "paired" (this call completed the pairing: the inviter is told), "replay" (the
    pairing was completed before; nothing new happens, missing rewards are re-applied
    idempotently) or "self" (the inviter opened their own invite; nothing happens).
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
    #: Reward outcomes decided by the pairing step: "1" paid, "0" none (pair rewarded before /
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
        """Credits this pairing paid to account ``uid``, told to them with the pairing (0 for a
        replay: those were told before)."""
        if self.status != "paired":
            return 0
        if uid == self.inviter:
            res, amount = self.inviter_reward, self.inviter_amount
        elif uid == self.invitee:
            res, amount = self.invitee_reward, self.invitee_amount
        else:
            return 0
        return 0 if res is None else amount


@dataclass(frozen=True, slots=True)
class _Decision:
    fresh: bool  # decided by this call
    counted: bool
    inviter: str  # reward outcome, see Acceptance.inviter_outcome
    invitee: str


@lru_cache(maxsize=256)
def _end_of_local_day(day: date, tz: str) -> int:
    nxt = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    return int(nxt.timestamp())


def _claim_refusal(status: str) -> BotError:
    if status == "used":
        log_event("invite_used")
        return BotError(ErrorCode.CONFLICT, "invite.used")
    if status == "expired":
        return BotError(ErrorCode.NOT_FOUND, "invite.expired")
    if status == "revoked":
        return BotError(ErrorCode.NOT_FOUND, "invite.revoked")
    return BotError(ErrorCode.NOT_FOUND, "invite.not_found")


def _invite_id_of_key(key: str) -> str | None:
    """The id in an ``invite:<id>`` key (None for other ``invite:`` keys, which hold a colon)."""
    if not key.startswith("invite:"):
        return None
    rest = key[len("invite:"):]
    return rest if rest and ":" not in rest and K.invite(rest) == key else None


def _pairs_owner_of_key(key: str) -> str | None:
    """The account of a ``pairs:{<aid>}`` key, else None."""
    if key.startswith("pairs:{") and key.endswith("}"):
        aid = key[len("pairs:{"):-1]
        return aid if K.pairs_of(aid) == key else None
    return None


class Invites:
    """The invite service. One per Core (``core.invites``)."""

    def __init__(self, core: Core, leaderboard: Leaderboard) -> None:
        self._core = core
        self._r = core.store.redis
        self.cfg = core.settings.product.invites
        secret = core.signing_secret
        self.codec = TokenCodec(secret)
        self._pair_key = KeyedHash(hmac.digest(secret, b"soul-lab/pair/v1", "sha256"))
        self._reward_key = KeyedHash(hmac.digest(secret, b"soul-lab/pair-reward/v2", "sha256"))
        self.leaderboard = leaderboard
        #: every step's calls go out with other pairings' concurrent calls (one pipeline)
        self._batch = core.store.batch

    # --- helpers ---------------------------------------------------------------------
    def pair_digest(self, person_a: str, person_b: str) -> str:
        """Keyed hash of two PERSON digests (order-free), naming the pair-seen marker."""
        x, y = sorted((person_a, person_b))
        return self._pair_key.hexdigest(f"{x}|{y}".encode())[:32]

    def reward_idem(self, me: str, other: str) -> str:
        """The ledger idempotency key of ``me``'s reward for pairing with ``other`` (accounts).
        One per side: the two accounts' ledgers share no identifier."""
        digest = self._reward_key.hexdigest(f"{me}|{other}".encode())[:32]
        return f"pair-reward:{digest}"

    async def person(self, aid: str) -> str:
        """The person digest behind account ``aid`` (``core.accounts.person``). An account
        without an identity (erased meanwhile, or a bare id in tests) falls back to the digest
        of the id itself, so the markers stay keyed hashes either way."""
        accounts = self._core.accounts
        return await accounts.person(aid) or accounts.person_digest(aid)

    def _now_ms(self) -> int:
        return self._core.clock.now_ms()

    def _ttl_ms(self, expiry_ms: int) -> int:
        """Relative expiry (the server's clock may differ from ours) of an instant by our clock."""
        return max(60_000, expiry_ms - self._now_ms())

    # --- issuing -----------------------------------------------------------------------
    async def issue(self, uid: str, *, replace: str | None = None) -> Invite:
        """A new pending invite for account ``uid``; with ``replace`` (an invite id) that one is
        revoked. Steps and crash analysis: module docstring.

        Reissuing is allowed only to the inviter (else ``FORBIDDEN``) and only while the old
        invite is pending (else ``CONFLICT``); an old invite already replaced by a pending invite
        of ours answers with that one (a retried ``/invite new``). Rate limits are the caller's
        job (``invite_user``).
        """
        now_ms = self._now_ms()
        if replace:
            old = await self.get(replace)
            successor = await self._check_replaceable(uid, old, now_ms)
            if successor is not None:
                return successor
        exp = int(now_ms // 1000) + self.cfg.ttl_seconds
        record_ttl = self.cfg.ttl_seconds + RECORD_RETENTION_SECONDS
        for _ in range(3):  # an id collision is astronomically unlikely; retry anyway
            invite_id = self.codec.new_id()
            token = self.codec.make(invite_id, exp)
            async with redis_guard("invites.issue"):
                # one batch, in order: the registry entry as plain commands (before the record
                # exists, so /delete finds it; no script precedes it, so a lost script cache
                # cannot reorder it), the record (its own slot), then the history entry
                *_, res, _ = await self._run(
                    *self._registry_calls(uid, {Accounts.key_entry(K.invite(invite_id)): now_ms + record_ttl * 1000}),
                    Script("invite_issue", [K.invite(invite_id)], [uid, token, now_ms, exp * 1000, record_ttl]),
                    Script("invite_list_add", [K.invites_of(uid)], [invite_id, now_ms, record_ttl]))
                if str(res[0]) != "ok":  # the id is taken (never seen in practice): unlist it
                    await self._r.zrem(K.invites_of(uid), invite_id)
                    continue
            if replace:
                await self._revoke(uid, replace, invite_id, now_ms)
            log_event("invite_issued", user=uid, invite=invite_id, replaces=replace)
            return Invite(invite_id, uid, "pending", token, now_ms, exp * 1000)
        raise BotError(ErrorCode.INTERNAL_ERROR)

    async def _check_replaceable(self, uid: str, old: Invite | None, now_ms: int) -> Invite | None:
        """Raises unless ``old`` is ``uid``'s pending invite; returns its pending successor when
        it was replaced already (a retry), else None."""
        if old is None:
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        if old.inviter != uid:
            log_event("invite_reissue_forbidden", user=uid)  # not the invite id: it names its owner
            raise BotError(ErrorCode.FORBIDDEN, "invite.not_yours")
        if old.status == "revoked" and old.replaced_by:
            successor = await self.get(old.replaced_by)
            if successor is not None and successor.inviter == uid and successor.state(now_ms) == "pending":
                return successor
        if old.state(now_ms) != "pending":
            raise BotError(ErrorCode.CONFLICT, "invite.not_pending")
        return None

    async def _revoke(self, uid: str, old_id: str, new_id: str, now_ms: int) -> None:
        """Step 5 of a reissue; a refusal (the old invite changed meanwhile) withdraws the new one."""
        async with redis_guard("invites.revoke"):
            res = await self._core.store.scripts["invite_revoke"](keys=[K.invite(old_id)],
                                                                 args=[uid, now_ms, new_id])
        status = str(res[0])
        if status == "ok":
            return
        async with redis_guard("invites.withdraw"):
            await self._r.delete(K.invite(new_id))
            await self._r.zrem(K.invites_of(uid), new_id)
        if status == "missing":
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        if status == "forbidden":
            log_event("invite_reissue_forbidden", user=uid)
            raise BotError(ErrorCode.FORBIDDEN, "invite.not_yours")
        raise BotError(ErrorCode.CONFLICT, "invite.not_pending")

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
            async with self._r.pipeline(transaction=False) as pipe:  # one key each: any slots
                for invite_id in ids:
                    pipe.hgetall(K.invite(invite_id))
                raws = await pipe.execute() if ids else []
        out = [Invite.from_hash(i, raw) for i, raw in zip(ids, raws, strict=True)]
        return [inv for inv in out if inv is not None and inv.inviter == uid]

    async def latest_pending(self, uid: str) -> Invite | None:
        now = self._now_ms()
        for inv in await self.list_for(uid, HISTORY_SIZE):
            if inv.state(now) == "pending":
                return inv
        return None

    async def pairs_of(self, uid: str, limit: int = 50) -> list[tuple[str, int]]:
        """(other account, paired_at ms), most recent first."""
        async with redis_guard("invites.pairs"):
            rows = await self._r.zrevrange(K.pairs_of(uid), 0, max(0, limit - 1), withscores=True)
        return [(m, int(s)) for m, s in rows]

    async def pair_count(self, uid: str) -> int:
        async with redis_guard("invites.pairs"):
            n = await self._r.zcard(K.pairs_of(uid))
        return int(n)

    async def is_paired(self, a: str, b: str) -> bool:
        """Whether accounts ``a`` and ``b`` are paired (``b`` is in ``pairs:{a}``)."""
        if a == b:
            return False
        async with redis_guard("invites.pair"):
            score = await self._r.zscore(K.pairs_of(a), b)
        return score is not None

    # --- accepting -----------------------------------------------------------------------
    async def accept(self, uid: str, token: str, *, client_ip: str | None = None) -> Acceptance:
        """Account ``uid`` accepts the invite ``token`` (steps and crash analysis: module
        docstring). Idempotent: accepting again completes what a crash left undone.

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
        # the reward limit, the invitee's profile and account meta read by the same script, and
        # the invite read right after it in the same batch
        limit, reads, _, extra = await core.limiter.hit_read_also(
            "reward", uid, (K.profile(uid), K.account_meta(uid)), also=[("HGETALL", K.invite(parsed.invite_id))])
        if not limit.allowed:
            raise RateLimited(limit, "reward")
        if reads is None or extra is None:  # the limiter fell back to its in-process window: Redis is failing
            async with redis_guard("invites.accept"):
                *reads, raw_invite = await self._run(("HGETALL", K.profile(uid)), ("HGETALL", K.account_meta(uid)),
                                                     ("HGETALL", K.invite(parsed.invite_id)))
        else:
            [raw_invite] = extra
        invite = Invite.from_hash(parsed.invite_id, raw_invite)
        now_ms = self._now_ms()
        if invite is None:
            if parsed.exp * 1000 <= now_ms:
                raise BotError(ErrorCode.NOT_FOUND, "invite.expired")
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        inviter = invite.inviter
        if inviter == uid:
            return Acceptance("self", invite.id, inviter, uid)
        # refusals visible already are answered before anything is written (the claim decides races)
        mine = invite.status == "paired" and invite.invitee == uid  # claimed by us before: a retry
        if invite.status == "paired" and not mine:
            raise _claim_refusal("used")
        if not mine and invite.state(now_ms) != "pending":
            raise _claim_refusal(invite.state(now_ms))
        async with redis_guard("invites.accept"):
            raw_inviter, inviter_meta = await self._run(("HGETALL", K.profile(inviter)),
                                                        ("HGETALL", K.account_meta(inviter)))
        inviter_profile = core.profiles.parse(inviter, raw_inviter)
        if inviter_profile is None or not inviter_profile.onboarded:
            raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
        if not inviter_profile.can_share and not mine:
            # withdrew the sharing consent (see partner_shares): nobody can join meanwhile. A
            # claim made before still completes (the replies then show no name or compatibility).
            raise BotError(ErrorCode.FORBIDDEN, "invite.inviter_not_sharing")
        me = core.profiles.parse(uid, reads[0])
        tz = me.tz if me else core.settings.product.profile.default_timezone
        day = local_day(core.clock, tz).isoformat()
        expiry = invite.record_expiry_ms
        status, paired_at_ms, day = await self._claim(invite, uid, now_ms, day)
        # (b) decide + link + unlock, (c) pay, (d) finish: each idempotent
        persons = (self._person_of(inviter, inviter_meta), self._person_of(uid, reads[1]))
        decision = await self._pair(invite, uid, paired_at_ms, persons, inviter_profile, me)
        outcomes = (decision.inviter, decision.invitee)
        inviter_res, invitee_res = await self._settle(inviter, uid, outcomes)
        first = await self._finish(invite.id, expiry)
        if first:
            log_event("invite_paired", new_pair=decision.counted, resumed=status == "replay")  # no ids
        return Acceptance("paired" if first else "replay", invite.id, inviter, uid, day, decision.counted,
                          inviter_res, invitee_res, self.cfg.inviter_reward, self.cfg.invitee_reward,
                          outcomes[0], outcomes[1])

    async def _run(self, *calls: Call) -> list[Any]:
        """``calls`` in order, sent together with other pairings' concurrent calls (``Coalescer``)."""
        return await self._batch.run(calls)

    def _person_of(self, aid: str, meta: dict[str, str]) -> str:
        """The person digest of ``aid`` from its account meta (read in a batch with other calls):
        ``person_in`` (the rule ``Accounts.person`` uses), else the account id's own digest."""
        return person_in(meta) or self._core.accounts.person_digest(aid)

    def _registry_calls(self, aid: str, entries: dict[str, float]) -> list[Call]:
        """Registry entries of ``aid`` (entry -> expiry ms) and the pruning of expired ones, as
        calls for one batch (one slot, in order): recorded before the writes they cover."""
        reg = K.account_registry(aid)
        flat: list[Any] = []
        for entry, expires in entries.items():
            flat += ["inf" if expires == NEVER else int(expires), entry]
        return [("ZADD", reg, *flat), ("ZREMRANGEBYSCORE", reg, "-inf", self._now_ms())]

    async def _claim(self, invite: Invite, uid: str, now_ms: int, day: str) -> tuple[str, int, str]:
        """Step (a): both registries, then ``invite_claim.lua`` on the invite hash. Returns
        ("claimed" | "replay", paired_at ms, day) as recorded by the first claim; raises the
        refusals.

        The registries get every entry the later steps need, in the claim's batch before it (a
        pipeline runs in order; a script call never precedes them, so a lost script cache cannot
        reorder them — ``bot.core.store.coalesce``): the
        invitee's (the ``invitee`` field of the invite, its member in the inviter's ``pairs:``)
        and the inviter's (its leaderboard member in both boards, its member in the invitee's
        ``pairs:``). An entry for a claim that is then refused names nothing, and erasure skips it."""
        mine = invite.status == "paired" and invite.invitee == uid and invite.paired_at_ms
        guess = invite.paired_at_ms if mine and invite.paired_at_ms else now_ms
        async with redis_guard("invites.claim"):  # one batch: the registries first, then the claim
            *_, res = await self._run(*self._pairing_registry(invite, uid, guess),
                                      Script("invite_claim", [K.invite(invite.id)], [invite.inviter, uid, now_ms, day]))
        status = str(res[0])
        if status not in ("claimed", "replay"):
            raise _claim_refusal(status)  # "self" was answered before: the inviter was read then
        paired_at_ms = int(res[1] or 0) or now_ms
        if week_id(paired_at_ms / 1000) != week_id(guess / 1000):
            # a concurrent accept of ours claimed it first, in another leaderboard week
            async with redis_guard("invites.claim"):
                await self._run(*self._pairing_registry(invite, uid, paired_at_ms))
        return status, paired_at_ms, str(res[2] or day)

    def _pairing_registry(self, invite: Invite, invitee: str, paired_at_ms: int) -> list[Call]:
        inviter = invite.inviter
        member = self.leaderboard.member(inviter)
        week_key = K.leaderboard_week(week_id(paired_at_ms / 1000))
        return [*self._registry_calls(invitee, {
                    Accounts.field_entry(K.invite(invite.id), "invitee"): invite.record_expiry_ms,
                    Accounts.member_entry(K.pairs_of(inviter), invitee): NEVER}),
                *self._registry_calls(inviter, {
                    Accounts.member_entry(K.leaderboard_all(), member): NEVER,
                    Accounts.member_entry(week_key, member): self._now_ms() + WEEK_TTL_SECONDS * 1000,
                    Accounts.member_entry(K.pairs_of(invitee), inviter): NEVER})]

    async def _pair(self, invite: Invite, invitee: str, paired_at_ms: int, persons: tuple[str, str],
                    inviter_profile: Profile | None, invitee_profile: Profile | None) -> _Decision:
        """Step (b), one batch: ``pair_decide.lua`` in the ``{pairs}`` slot (idempotent per
        invite) and ``pair_link.lua`` in each account's slot (the partner in its ``pairs:``;
        today's fortune-details unlock with its registry entry). Independent and idempotent.

        The cap's day is the service's day (Asia/Seoul by default) of the *claim*, not the
        inviter's chosen zone (changing /timezone must not open a fresh day of rewards) and not
        the day of a later retry; the leaderboard week is the claim's week too."""
        core = self._core
        inviter = invite.inviter
        default_tz = ZoneInfo(core.settings.product.profile.default_timezone)
        service_day = datetime.fromtimestamp(paired_at_ms / 1000, default_tz).date().isoformat()
        week_key = K.leaderboard_week(week_id(paired_at_ms / 1000))
        now_ms = self._now_ms()
        keys = [K.pair_decision(invite.id), K.pair_seen(self.pair_digest(*persons)),
                K.leaderboard_all(), week_key, K.referral_rewards_day(persons[0], service_day),
                K.invitee_rewarded(persons[1])]
        args = [now_ms, self.leaderboard.member(inviter), WEEK_TTL_SECONDS, self.cfg.referral_rewards_per_day,
                REWARD_DAY_TTL_SECONDS, 1 if self.cfg.inviter_reward > 0 else 0,
                1 if self.cfg.invitee_reward > 0 else 0, self._ttl_ms(invite.record_expiry_ms)]
        async with redis_guard("invites.pair"):
            res, _, _ = await self._run(Script("pair_decide", keys, args),
                                        self._link_call(inviter, invitee, paired_at_ms, inviter_profile),
                                        self._link_call(invitee, inviter, paired_at_ms, invitee_profile))
        return _Decision(str(res[0]) == "decided", int(res[1]) == 1, str(res[2]), str(res[3]))

    def _link_call(self, who: str, other: str, paired_at_ms: int, profile: Profile | None) -> Script:
        """``pair_link.lua`` for ``who``: ``other`` in its ``pairs:`` zset (ZADD GT: a repeat changes
        nothing, an older pairing never moves a newer date back) and, when the pairing is on
        ``who``'s local today, the day's fortune-details unlock (a replay on a later day does not
        unlock that later day)."""
        core = self._core
        tz = profile.tz if profile else core.settings.product.profile.default_timezone
        today = local_day(core.clock, tz)
        if datetime.fromtimestamp(paired_at_ms / 1000, ZoneInfo(tz)).date() != today:
            return Script("pair_link", [K.pairs_of(who)], [other, paired_at_ms])
        # relative expiry (the server's clock may differ from ours): an hour after the local day
        ttl = max(60, _end_of_local_day(today, tz) + 3600 - int(core.clock.now()))
        unlock = K.unlock(who, REWARD_FEATURE, today.isoformat())
        return Script("pair_link", [K.pairs_of(who), K.account_registry(who), unlock],
                      [other, paired_at_ms, Accounts.key_entry(unlock), self._now_ms() + ttl * 1000, ttl])

    async def _finish(self, invite_id: str, expiry_ms: int) -> bool:
        """Step (d): True for the one call that completes the pairing (it tells the inviter)."""
        async with redis_guard("invites.finish"):
            [first] = await self._run(Script("pair_finish", [K.pair_decision(invite_id)],
                                             [self._now_ms(), self._ttl_ms(expiry_ms)]))
        return bool(int(first))

    async def _settle(self, inviter: str, invitee: str, outcomes: tuple[str, str],
                      ) -> tuple[LedgerResult | None, LedgerResult | None]:
        """Step (c): the rewards the pairing step decided (``outcomes``, "1" = pay) through the
        ledger, in one batch (two accounts, two slots, two independent idempotent grants:
        ``Ledger.grant_each``). Idempotent (a ledger key per side, kept forever); the reasons
        name neither the partner nor the invite."""
        sides = ((inviter, invitee, self.cfg.inviter_reward, "invite reward (inviter)", outcomes[0]),
                 (invitee, inviter, self.cfg.invitee_reward, "invite reward (invitee)", outcomes[1]))
        paid = [i for i, (_, _, amount, _, outcome) in enumerate(sides) if amount > 0 and outcome == "1"]
        results: list[LedgerResult | None] = [None, None]
        if paid:
            done = await self._core.ledger.grant_each([
                Grant(sides[i][0], sides[i][2], sides[i][3], self.reward_idem(sides[i][0], sides[i][1]),
                      kind="reward", keep_forever=True) for i in paid])
            for i, res in zip(paid, done, strict=True):
                results[i] = res
        return results[0], results[1]

    # --- /delete -------------------------------------------------------------------------
    async def erase(self, aid: str) -> None:
        """Erase account ``aid``'s invites and pairs, leaving nothing that links it to a partner.

        Without SCAN: what to touch comes from the account's own keys (``invite:user:``,
        ``pairs:``) and its registry (``acct:{aid}:keys``, written before every write outside
        its slot). Removes: its invites and their decisions (their tokens stop working), the
        ``invitee`` field of invites it accepted (only where it still names ``aid``), its member
        in every partner's ``pairs:`` zset and the partner's registry entry naming ``aid``'s
        zset, its own ``pairs:`` and history, and its leaderboard member (``Leaderboard.erase``).
        The registry entries handled here are removed from the registry, so erasure's generic
        registry step does not act on them unchecked. Keyed-hash markers (pair seen, invitee
        rewarded, reward day) stay: they reveal nothing without the secret and keep rewards once
        per person. Idempotent (safe to run again after a crash at any point); Redis down:
        ``ServiceUnavailable`` with the rest left for the next run.
        """
        r = self._r
        registry = K.account_registry(aid)
        async with redis_guard("invites.erase"):
            own = set(await r.zrange(K.invites_of(aid), 0, -1))
            partners = set(await r.zrange(K.pairs_of(aid), 0, -1))
            entries = list(await r.zrange(registry, 0, -1))
        accepted: set[str] = set()
        handled: list[str] = []
        for entry in entries:
            kind, _, rest = entry.partition("|")
            key, _, arg = rest.partition("|")
            if kind == "k" and (invite_id := _invite_id_of_key(rest)) is not None:
                own.add(invite_id)
            elif kind == "h" and arg == "invitee" and (invite_id := _invite_id_of_key(key)) is not None:
                accepted.add(invite_id)
            elif kind == "z" and arg == aid and (other := _pairs_owner_of_key(key)) is not None:
                partners.add(other)
            else:
                continue
            handled.append(entry)
        async with redis_guard("invites.erase"):
            for invite_id in sorted(own):
                key = K.invite(invite_id)
                owner, invitee = await r.hmget(key, ["inviter", "invitee"])
                if owner not in (None, aid):
                    continue  # not ours (a registry entry of an id that collided): leave it
                if invitee:  # the friend's registry no longer needs to reach this invite
                    await r.zrem(K.account_registry(invitee), Accounts.field_entry(key, "invitee"))
                await r.delete(key)
                await r.delete(K.pair_decision(invite_id))
            for invite_id in sorted(accepted):
                key = K.invite(invite_id)
                if await r.hget(key, "invitee") == aid:
                    await r.hdel(key, "invitee")
            for other in sorted(partners):
                await r.zrem(K.pairs_of(other), aid)
                await r.zrem(K.account_registry(other), Accounts.member_entry(K.pairs_of(aid), other))
            await r.delete(K.pairs_of(aid), K.invites_of(aid))  # one slot
            if handled:
                await r.zrem(registry, *handled)
        await self.leaderboard.erase(aid)
        log_event("invites_erased", user=aid, invites=len(own), pairs=len(partners))


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
    invites = core.invites
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
    """Accept ``token`` for account ``uid`` arriving through HTTP (limited per client address with
    ``invite_ip``), with the same replies, rewards and notifications as ``/join``."""
    from bot.core.features.invite_cmd import join_flow

    await core.limiter.check("invite_ip", client_ip or "unknown")
    return await join_flow(core, uid, token)
