"""One account across platforms: ``/link`` codes, attaching and detaching identities.

Everything the bot keeps is keyed by the account id (``bot.core.accounts``), so attaching a
platform identity to an account shares its credits, streak, profile and pairs at once.

**Codes.** ``issue_code`` draws an 8-digit one-time code for an account, valid 10 minutes
(``CODE_TTL_MS``). Redis keeps only a keyed hash of it (``link:code:<digest>`` = {aid, exp,
used}), with the key's own expiry; a new code replaces the account's previous one. A code is
claimed by exactly one identity (``link_code_claim.lua``): single use. Every ``/link <code>``
attempt counts against the caller's account in the ``link_guess`` rate limit (5 per 10
minutes by default), so 10^8 codes cannot be guessed within their 10 minutes.

**Who may be attached** (``plan``): the identity's *current* account (the source) must hold
nothing worth keeping, precisely:

- no identity other than this one (a linked account is unlinked first);
- at most one ledger entry ever, and that one the welcome bonus (kind ``bonus``): no purchase,
  spend, hold, reward or grant — checked with ``Ledger.reconcile`` (entries, held);
- no pairs (``pairs:{<source>}`` empty);
- a check-in streak of at most its first day (``total <= 1``: a first ``/daily`` is no history).

Its profile, welcome bonus, subscription, pending invites and conversations are forfeited: the
source account is erased (``erase_account``) once the identity points at the target. An
onboarded source (or one holding the bonus) is told so and confirms first; a source that is not
onboarded and has no ledger entry is attached directly. The welcome marker of the identity is
set to the target account (``SET NX``), so the identity never earns a second welcome bonus —
neither now nor after an ``/unlink``.

**Attach** (``attach``), each step idempotent:

1. claim the code for this identity (``link_code_claim.lua``; a retry by the same identity
   resumes, any other identity is refused);
2. check the plan again (the target still exists and has no identity on this platform; the
   source still holds nothing);
3. ``ZADD link:pending`` the target (the sweeper finishes what a crash left);
4. ``account_attach.lua``: the target's meta gains ``id:<platform>``, ``pd:<platform>`` and
   ``lk:<platform>`` = the source (the operation's durable record, in the target's slot);
5. if the source holds the welcome bonus, the identity's welcome marker (implied by the mapping
   until now) is written for the source (``keep_welcome``); ``ident_move.lua``: the identity's
   mapping moves from the source to the target (compare and set); from now on its messages
   reach the target;
6. the source is checked once more: if something landed on it meanwhile (e.g. a payment
   recorded by a process that still had the old mapping cached), the attachment is undone
   (mapping moved back, meta field removed) and the user is told;
7. the welcome marker of the identity is claimed for the target (``SET NX``);
8. the source account is erased (``erase_account``: its mapping is left alone, since it no
   longer names the source);
9. ``lk:<platform>`` is removed, the target leaves ``link:pending``, the code is deleted.

Crash analysis: after 1, the code is spent for everyone but this identity, which can run
``/link confirm`` again (or the code expires: nothing else changed). After 3, the pending entry
names a target without ``lk:`` fields: the sweeper drops it. After 4, the target lists the
identity but the identity still reaches the source: the sweeper (``finish_pending_links``,
after 60 s) or a retry runs 5-9; until then the target's ``/delete`` would not touch the
identity's mapping (it names the source). After 5 (the worst point: two accounts, the identity
on the new one, the old one not yet erased), the sweeper re-checks the source, claims the
marker, erases the source and clears the record — or undoes it all if the source gained
history. After 7 or 8, re-running is harmless: erasure is idempotent. Redis down at any step:
``ServiceUnavailable``; the state is one of the above and the same repair applies.

Residual window: a process that still caches the identity -> source mapping keeps using the
source until its meta is deleted (step 8; the router re-resolves an account without meta).
A write it makes after step 6 and before step 8 lands on the erased source (its ledger stays,
anonymous and reconcilable); step 6 narrows this to milliseconds and it is logged as
``link_source_changed`` when caught.

**Detach** (``detach``): 1. the identity's welcome marker is claimed for the account (NX);
2. ``account_detach.lua`` removes it from the meta, refusing the account's last identity
(atomically, so two concurrent ``/unlink``s cannot strip both); 3. the mapping is deleted if it
still names the account (compare and delete). Crash after 1: nothing visible. After 2: the
mapping still names the account, so the identity's next message re-adds it to the meta
(``accounts.resolve``) — it is simply still linked, and ``/unlink`` again finishes. After 3:
done; the identity's next message creates a fresh account, which gets no welcome bonus (the
marker names this account). Other processes' cached mappings are caught by the router, which
checks that the account's meta still lists the identity.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.accounts import identities_of, key_entry
from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.logs import log_event
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["CODE_TTL_MS", "LinkCode", "Plan", "issue_code", "normalize_code", "code_digest", "preview",
           "plan", "attach", "detach", "finish_pending_links"]

CODE_TTL_MS = 10 * 60 * 1000
CODE_DIGITS = 8
#: Rate-limit scope counting ``/link <code>`` attempts per account (``[limits.link_guess]``).
GUESS_SCOPE = "link_guess"
_CODE_RE = re.compile(rf"^\d{{{CODE_DIGITS}}}$")


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_ms: int

    @property
    def shown(self) -> str:
        """``1234 5678``: easier to read off one screen and type on another."""
        half = CODE_DIGITS // 2
        return f"{self.code[:half]} {self.code[half:]}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What attaching ``identity`` to ``target`` would do."""

    identity: str
    target: str
    source: str | None  # the identity's current account (erased by the attachment), if any
    confirm: bool  # the source holds a profile or the welcome bonus: ask first
    forfeit: int  # welcome-bonus credits given up


def normalize_code(text: str) -> str | None:
    """The 8 digits of what a user typed (spaces and dashes ignored), or None."""
    code = re.sub(r"[\s\-]", "", text or "")
    return code if _CODE_RE.fullmatch(code) else None


def code_digest(core: Core, code: str) -> str:
    key = hmac.digest(core.signing_secret, b"soul-lab/link-code/v1", "sha256")
    return hmac.digest(key, code.encode("ascii"), "sha256").hex()[:32]


async def issue_code(core: Core, aid: str) -> LinkCode:
    """A new one-time code for account ``aid`` (replacing its previous one). The code and its
    issued marker are registered for erasure before they are written. Redis down:
    ``ServiceUnavailable`` (a code half-written is never shown, and expires on its own)."""
    r = core.store.redis
    exp = core.clock.now_ms() + CODE_TTL_MS
    for _ in range(8):
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = code_digest(core, code)
        await core.accounts.track(aid, [key_entry(K.link_code(digest)), key_entry(K.link_issued(aid))],
                                  expires_ms=exp + 60_000)
        async with redis_guard("linking.issue"):
            stored = await core.store.scripts["link_code_issue"](
                keys=[K.link_code(digest)], args=[aid, exp, CODE_TTL_MS])
            if not stored:
                continue
            old = await r.set(K.link_issued(aid), digest, px=CODE_TTL_MS, get=True)
            if old and old != digest:
                await r.delete(K.link_code(old))
        log_event("link_code_issued", user=aid)
        return LinkCode(code, exp)
    raise ServiceUnavailable("link-code")  # eight collisions in a row: not plausibly reachable


# --- who may be attached ---------------------------------------------------------------

async def _source_problem(core: Core, identity: str, source: str) -> tuple[str | None, int, bool]:
    """(refusal i18n key or None, welcome bonus held, has an onboarded profile)."""
    platform = identity.partition(":")[0]
    meta = await core.accounts.meta(source)
    others = {p for p in identities_of(meta) if p != platform}
    if others:
        return "link.source_linked", 0, False
    rec = await core.ledger.reconcile(source)
    bonus = 0
    if rec.held or rec.entries > 1:
        return "link.source_has_history", 0, False
    if rec.entries == 1:
        last = await core.ledger.history(source, 1)
        if not last or last[0].kind != "bonus":
            return "link.source_has_history", 0, False
        bonus = last[0].amount
    async with redis_guard("linking.source"):
        pairs = await core.store.redis.zcard(K.pairs_of(source))
        streak_total = await core.store.redis.hget(K.streak(source), "total")
    if pairs:
        return "link.source_has_pairs", 0, False
    if int(streak_total or 0) > 1:
        return "link.source_has_history", 0, False
    profile = await core.profiles.get(source)
    return None, bonus, bool(profile and profile.onboarded)


async def plan(core: Core, identity: str, source: str | None, target: str) -> Plan:
    """Check that ``identity`` (currently on ``source``) may join ``target`` (see the module
    docstring). Raises ``BotError`` with a kind, specific reason otherwise. Read-only."""
    if source == target:
        raise BotError(ErrorCode.CONFLICT, "link.already_same")
    platform, _, user_id = identity.partition(":")
    target_meta = await core.accounts.meta(target)
    if not target_meta:
        raise BotError(ErrorCode.NOT_FOUND, "link.code_invalid")
    taken = target_meta.get(f"id:{platform}")
    if taken and taken != user_id:
        raise BotError(ErrorCode.CONFLICT, "link.platform_taken")
    if source is None:
        return Plan(identity, target, None, False, 0)
    problem, bonus, onboarded = await _source_problem(core, identity, source)
    if problem:
        raise BotError(ErrorCode.FORBIDDEN, problem)
    return Plan(identity, target, source, onboarded or bonus > 0, bonus)


async def preview(core: Core, identity: str, source: str | None, code: str) -> tuple[Plan, str]:
    """``/link <code>``: count the attempt, look the code up, and plan. Returns the plan and the
    code's digest (kept in the confirmation session; the code itself is not stored).
    Raises ``RateLimited`` past the guess limit and ``BotError`` for an unknown, expired or
    spent code. Writes only the rate-limit window."""
    if source:
        await core.limiter.check(GUESS_SCOPE, source)
    else:
        await core.limiter.check(GUESS_SCOPE, core.accounts.identity_digest(identity))
    digest = code_digest(core, code)
    async with redis_guard("linking.preview"):
        rec = await core.store.redis.hgetall(K.link_code(digest))
    used = rec.get("used")
    if (not rec or int(rec.get("exp", 0)) < core.clock.now_ms()
            or (used and used != core.accounts.identity_digest(identity))):
        log_event("link_code_rejected", user=source or "-")
        raise BotError(ErrorCode.NOT_FOUND, "link.code_invalid")
    return await plan(core, identity, source, rec["aid"]), digest


# --- attach ----------------------------------------------------------------------------

async def attach(core: Core, identity: str, source: str | None, digest: str) -> Plan:
    """Attach ``identity`` (on account ``source``, or none) to the account whose code has
    ``digest``. Steps and crash analysis: module docstring. Idempotent: a retry after any
    failure resumes. Returns the plan carried out; ``BotError`` when refused (nothing changed
    beyond the code's claim)."""
    now = core.clock.now_ms()
    async with redis_guard("linking.claim"):
        status, target = await core.store.scripts["link_code_claim"](
            keys=[K.link_code(digest)], args=[core.accounts.identity_digest(identity), now])
    if status != "ok":
        raise BotError(ErrorCode.NOT_FOUND, "link.code_invalid")
    p = await plan(core, identity, source, str(target))
    async with redis_guard("linking.pending"):
        await core.store.redis.zadd(K.links_pending(), {p.target: now})
    res = await core.accounts.attach(p.target, identity, source)
    if res != "ok":
        await _drop_pending(core, p.target)
        if res == "taken":
            raise BotError(ErrorCode.CONFLICT, "link.platform_taken")
        raise BotError(ErrorCode.NOT_FOUND, "link.code_invalid")
    await _complete(core, p.target, identity, source)
    async with redis_guard("linking.code"):
        await core.store.redis.delete(K.link_code(digest))
    log_event("identity_linked", user=p.target, platform=identity.partition(":")[0],
              merged=bool(source), forfeit=p.forfeit)
    return p


async def _complete(core: Core, target: str, identity: str, source: str | None) -> None:
    """Steps 5-9 of an attachment whose meta step (4) is done. Idempotent; undoes the
    attachment and raises ``BotError`` when it cannot complete."""
    if source:  # the welcome marker implied by the mapping is written before the mapping moves
        await core.accounts.keep_welcome(source, identity)
    moved = await core.accounts.move(identity, source, target)
    if moved == "conflict":
        await _undo(core, target, identity, source, moved_back=False)
        raise BotError(ErrorCode.CONFLICT, "link.retry")
    if source:
        problem, _bonus, _ = await _source_problem(core, identity, source)
        if problem:
            log_event("link_source_changed", level=logging.WARNING, user=source, reason=problem)
            await _undo(core, target, identity, source, moved_back=True)
            raise BotError(ErrorCode.FORBIDDEN, problem)
    marker = K.welcome_marker(core.ledger.person_marker(identity))
    async with redis_guard("linking.welcome"):
        await core.store.redis.set(marker, target, nx=True)
    if source:
        from bot.core.erasure import erase_account

        await erase_account(core, source)
    platform = identity.partition(":")[0]
    async with redis_guard("linking.finish"):
        await core.store.redis.hdel(K.account_meta(target), f"lk:{platform}")
    await _drop_pending(core, target)


async def _undo(core: Core, target: str, identity: str, source: str | None, *, moved_back: bool) -> None:
    """Take back an attachment that cannot complete: the mapping goes back to the source (or
    is deleted when there was none), then the target's meta forgets the identity."""
    if moved_back:
        if source:
            await core.accounts.move(identity, target, source)
        else:
            await core.accounts.unmap(identity, target)
    await core.accounts.detach(target, identity, allow_last=True)
    await _drop_pending(core, target)


async def _drop_pending(core: Core, target: str) -> None:
    """Leave ``link:pending`` once no attachment of ``target`` is in flight (no ``lk:`` left)."""
    async with redis_guard("linking.pending"):
        meta = await core.store.redis.hgetall(K.account_meta(target))
        if not any(f.startswith("lk:") for f in meta):
            await core.store.redis.zrem(K.links_pending(), target)


async def finish_pending_links(core: Core, older_than_ms: int = 60_000, limit: int = 50) -> int:
    """Finish (or undo) attachments a crash interrupted more than ``older_than_ms`` ago. Run by
    the sweeper in every process; safe concurrently (every step is idempotent). Returns how
    many accounts were handled; Redis down: 0 (tried again next round)."""
    now = core.clock.now_ms()
    done = 0
    try:
        async with redis_guard("linking.sweep"):
            stale = await core.store.redis.zrangebyscore(K.links_pending(), "-inf", now - older_than_ms, 0, limit)
        for target in stale:
            meta = await core.accounts.meta(target)
            for field, value in meta.items():
                if not field.startswith("lk:"):
                    continue
                platform = field[3:]
                user_id = meta.get(f"id:{platform}")
                if not user_id:
                    continue
                try:
                    await _complete(core, target, f"{platform}:{user_id}", None if value == "-" else value)
                except BotError as err:
                    log_event("link_undone", level=logging.WARNING, user=target, reason=err.key)
            await _drop_pending(core, target)
            done += 1
    except ServiceUnavailable:
        return 0
    return done


# --- detach ----------------------------------------------------------------------------

async def detach(core: Core, aid: str, platform: str) -> str:
    """Detach account ``aid``'s identity on ``platform`` (steps and crash analysis: module
    docstring). Returns the detached identity. Refuses the account's last identity
    (FORBIDDEN) and a platform it has no identity on (NOT_FOUND). Idempotent up to the
    mapping's deletion; Redis down: ``ServiceUnavailable``."""
    ids = await core.accounts.identities(aid)
    user_id = ids.get(platform)
    if user_id is None:
        raise BotError(ErrorCode.NOT_FOUND, "link.not_linked")
    if len(ids) <= 1:
        raise BotError(ErrorCode.FORBIDDEN, "link.last_identity")
    identity = f"{platform}:{user_id}"
    marker = K.welcome_marker(core.ledger.person_marker(identity))
    async with redis_guard("linking.welcome"):
        await core.store.redis.set(marker, aid, nx=True)
    res = await core.accounts.detach(aid, identity)
    if res == "last":
        raise BotError(ErrorCode.FORBIDDEN, "link.last_identity")
    await core.accounts.unmap(identity, aid)
    log_event("identity_unlinked", user=aid, platform=platform)
    return identity



