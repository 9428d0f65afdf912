"""Every Redis key the bot uses is built here, and only here (key layout v2).

Layout v2 is designed for Redis Cluster: every multi-key Lua script and transaction touches
keys of one hash slot. A ``{...}`` part of a key is its hash tag (only that part decides
the slot).

- **Per-account data** carries the account id as its tag (``profile:{a3f…}``,
  ``credits:{a3f…}``, ``ledger:{a3f…}``, ``idem:{a3f…}:…``, ``hold:{a3f…}:…``,
  ``session:{a3f…}:…``, ``ratelimit:command:{a3f…}``, …), so one account's balance, ledger,
  idempotency keys, holds, profile, streak, limits and sessions live in one slot and change
  together atomically. An account id is random and meaningless (``bot.core.accounts``);
  platform identities (``tg:123``) map to it through ``ident:<keyed hash>`` and are never part
  of any other key name.
- **Global families** each share one tag of their own: payments ``{pay}``, pairing markers and
  leaderboards ``{pairs}``, the daily broadcast ``{b}``, one AI provider's breaker
  ``{<provider>}``. Outbox jobs are spread over partitions ``{ob:pN}`` and inbox streams over
  ``{<platform>:pN}``, so no single slot carries all of them.
- **Global indexes** touched next to per-account data (``accounts:all``, ``holds:deadline``,
  ``erasure:pending``) are single keys written in their own step, ordered so a crash between
  the steps is harmless (see the callers' docstrings).

Prefixes follow the runbook (``invite:*``, ``session:*``, ``ratelimit:*``) so operators can
browse data by pattern.
"""

from __future__ import annotations

import zlib

__all__ = ["K", "LAYOUT_VERSION", "OUTBOX_PARTITIONS"]

#: The key layout this code reads and writes (``layout:version``; ``python -m bot migrate``).
LAYOUT_VERSION = 2
#: Outbox jobs are spread over this many hash-tagged partitions.
OUTBOX_PARTITIONS = 16


def _tag(value: str) -> str:
    """``{value}`` — a hash tag. Braces inside a tag would change the slot, so refuse them."""
    if "{" in value or "}" in value:
        raise ValueError(f"hash tag must not contain braces: {value!r}")
    return "{" + value + "}"


class K:
    """Key builders, grouped by feature. Pure functions; no I/O."""

    # --- layout and accounts ------------------------------------------------------------
    @staticmethod
    def layout_version() -> str:
        """The data's key layout version ("2"); absent on a v1 dataset or an empty database."""
        return "layout:version"

    @staticmethod
    def migration_state() -> str:
        """Hash: progress of ``python -m bot migrate`` (v1 -> v2), for resuming."""
        return "layout:migrate:v2"

    @staticmethod
    def migration_map() -> str:
        """Hash v1 uid -> new account id, written first by the migration (resumable)."""
        return "layout:migrate:v2:map"

    @staticmethod
    def identity(digest: str) -> str:
        """String: the account id of one platform identity. ``digest`` is a keyed hash of
        ``tg:123`` (``Accounts.identity_digest``), so the key names no platform id."""
        return f"ident:{digest}"

    @staticmethod
    def account_meta(aid: str) -> str:
        """Hash of one account: ``created``, ``id:<platform>`` (its platform user id, the only
        place it is stored), ``pd:<platform>`` (keyed person digest of that identity)."""
        return f"acct:{_tag(aid)}"

    @staticmethod
    def account_registry(aid: str) -> str:
        """Sorted set: what /delete must undo for this account outside its fixed keys — entry ->
        expiry (ms; ``inf`` = never). Entries: ``k|<key>`` delete a key, ``z|<key>|<member>``
        remove a member, ``h|<key>|<field>`` delete a hash field (``bot.core.accounts``)."""
        return f"acct:{_tag(aid)}:keys"

    @staticmethod
    def accounts_index() -> str:
        """Set of every account id (reconcile, compaction and key checks walk it)."""
        return "accounts:all"

    @staticmethod
    def erasures_pending() -> str:
        """Sorted set account id -> ms: erasures started and not yet finished (a sweeper
        finishes them after a crash)."""
        return "erasure:pending"

    # --- linking identities (/link, /unlink; bot/core/linking.py) --------------------
    @staticmethod
    def link_code(digest: str) -> str:
        """Hash of one outstanding /link code (``aid``, ``exp``, ``used``), named by a keyed
        hash of the code (the code itself is never stored); expires with the code (10 min)."""
        return f"link:code:{digest}"

    @staticmethod
    def link_issued(aid: str) -> str:
        """String: the digest of the account's newest /link code (a new code replaces it)."""
        return f"link:issued:{_tag(aid)}"

    @staticmethod
    def links_pending() -> str:
        """Sorted set account id -> ms: /link attachments begun and not yet finished (a sweeper
        finishes them after a crash; ``linking.finish_pending_links``)."""
        return "link:pending"

    # --- profiles -------------------------------------------------------------------
    @staticmethod
    def profile(aid: str) -> str:
        return f"profile:{_tag(aid)}"

    # --- credits ledger -------------------------------------------------------------
    @staticmethod
    def account(aid: str) -> str:
        """Hash: balance, held, earned, spent, gen; ``e0`` (the account's first ledger entry until
        compaction folds it) and ``i:welcome`` (the welcome bonus's idempotency record)."""
        return f"credits:{_tag(aid)}"

    @staticmethod
    def ledger_change(aid: str, idem_key: str) -> list[str]:
        """The keys of one ledger change, in ``ledger_apply.lua``'s order: account hash, ledger
        list, idempotency record (``account``, ``ledger``, ``idempotency``; built in one go, as
        this is on every spend's path)."""
        tag = _tag(aid)
        return [f"credits:{tag}", f"ledger:{tag}", f"idem:{tag}:{idem_key}"]

    @staticmethod
    def ledger(aid: str) -> str:
        """List of ledger entries, newest first (LPUSH): positional text
        ``kind|amount|balance|ts|id|hold|captured|reason`` (JSON objects before; both read)."""
        return f"ledger:{_tag(aid)}"

    @staticmethod
    def ledger_checkpoint(aid: str) -> str:
        """Hash: the ledger entries compacted away (count, sum, balance_at, ts, open holds).

        ``ledger_compact.lua`` folds the oldest entries of ``ledger:{<aid>}`` into it.
        """
        return f"ledger:ckpt:{_tag(aid)}"

    @staticmethod
    def idempotency(aid: str, key: str) -> str:
        """The first result of one idempotent ledger change of ``aid`` (same slot as its ledger)."""
        return f"idem:{_tag(aid)}:{key}"

    @staticmethod
    def welcome_marker(digest: str) -> str:
        """Forever marker (keyed hash of the person): the welcome bonus was given once, to the
        account in its value; survives /delete so it is given once per person."""
        return f"welcome:{digest}"

    @staticmethod
    def hold(hold_id: str) -> str:
        """Hash of one hold. ``hold_id`` is ``<aid>.<random>`` (``hold_id_of``), so the hold
        lives in its account's slot and the sweeper can find the account from the id alone."""
        aid, _, rest = hold_id.partition(".")
        return f"hold:{_tag(aid)}:{rest}"

    @staticmethod
    def hold_id_of(aid: str, suffix: str) -> str:
        return f"{aid}.{suffix}"

    @staticmethod
    def hold_account(hold_id: str) -> str:
        return hold_id.partition(".")[0]

    @staticmethod
    def hold_deadlines() -> str:
        """Sorted set hold_id -> deadline (epoch ms) for releasing holds of crashed processes."""
        return "holds:deadline"

    # --- payments (one tag for the family: records, index, day sums) -----------------
    @staticmethod
    def payment(charge_id: str, provider: str = "tg") -> str:
        """Hash describing one payment (account ref, pack, amounts, status; no platform id)."""
        return f"payment:{{pay}}:{provider}:{charge_id}"

    @staticmethod
    def payment_refund_lock(charge_id: str, provider: str = "tg") -> str:
        """Short lock (SET NX EX): one platform refund attempt or operator close at a time."""
        return f"payment:{{pay}}:{provider}:{charge_id}:refund-lock"

    @staticmethod
    def payments_index(provider: str = "tg") -> str:
        """Sorted set of charge ids -> payment time (ms), for ops listings."""
        return f"payments:{{pay}}:{provider}"

    @staticmethod
    def sales_day(day: str) -> str:
        """Hash of credits sold per day (UTC) for /ops metrics."""
        return f"sales:{{pay}}:{day}"

    # --- secrets --------------------------------------------------------------------
    @staticmethod
    def dev_signing_secret() -> str:
        """Development only (no SIGNING_SECRET): the random signing secret every process shares
        (64 hex chars, created once with SET NX, never expires)."""
        return "secret:signing:dev"

    # --- rate limits ----------------------------------------------------------------
    @staticmethod
    def ratelimit(scope: str, subject: str) -> str:
        """One limit window; tagged with its subject (an account id shares the account's slot)."""
        return f"ratelimit:{scope}:{_tag(subject)}"

    @staticmethod
    def ratelimit_config() -> str:
        """Hash scope -> "limit:window_seconds", run-time overrides set by /ops (read outside
        scripts, cached briefly)."""
        return "ratelimit:config"

    @staticmethod
    def ratelimit_noted(scope: str, aid: str) -> str:
        """Marker (SET NX PX): the rate-limit note was already sent in this window."""
        return f"ratelimit:noted:{scope}:{_tag(aid)}"

    # --- conversations and sessions -------------------------------------------------
    @staticmethod
    def session(aid: str, kind: str) -> str:
        return f"session:{_tag(aid)}:{kind}"

    @staticmethod
    def ask_last(aid: str) -> str:
        """The last /ask answer of the user's local day (JSON), shown free by ``/ask last``."""
        return f"session:{_tag(aid)}:ask_last"

    @staticmethod
    def unlock(aid: str, feature: str, day: str) -> str:
        """Marker that ``feature`` is unlocked for ``aid`` on local ``day``."""
        return f"unlock:{_tag(aid)}:{feature}:{day}"

    @staticmethod
    def newyear_hint(aid: str, year: int) -> str:
        """Marker that the daily push already pointed ``aid`` to /newyear for ``year`` (once)."""
        return f"nyhint:{_tag(aid)}:{year}"

    # --- AI (owned by bot/core/ai; keep this section together) -----------------------
    @staticmethod
    def ai_breaker(provider: str) -> str:
        """Hash: circuit breaker state of one AI provider (state, until, probe, reason)."""
        return f"ai:breaker:{_tag(provider)}"

    @staticmethod
    def ai_breaker_calls(provider: str) -> str:
        """Sorted set of recent calls (member -> ms) in the breaker's failure-rate window."""
        return f"ai:breaker:{_tag(provider)}:calls"

    @staticmethod
    def ai_breaker_failures(provider: str) -> str:
        """Sorted set of recent failed calls (member -> ms) in the breaker's window."""
        return f"ai:breaker:{_tag(provider)}:fails"

    @staticmethod
    def ai_cache(aid: str, kind: str, day: str, digest: str) -> str:
        """A same-day AI reading (JSON), served again without a second charge."""
        return f"aicache:{_tag(aid)}:{kind}:{day}:{digest}"

    @staticmethod
    def ai_inflight(aid: str, kind: str, day: str, digest: str) -> str:
        """Short lock: one identical paid AI reading in flight per user at a time."""
        return f"aicache:{_tag(aid)}:{kind}:{day}:{digest}:lock"

    @staticmethod
    def ai_spend(utc_day: str) -> str:
        """Integer micro-dollars spent on AI providers on one UTC day (expires after 3 days)."""
        return f"ai:spend:{utc_day}"

    @staticmethod
    def ai_spend_capped(utc_day: str) -> str:
        """Marker: ``ai_spend_cap_reached`` was logged for this UTC day (SET NX, once a day)."""
        return f"ai:spend:{utc_day}:capped"

    # --- invites, pairs, streaks, leaderboard -----------------------------------------
    @staticmethod
    def invite(invite_id: str) -> str:
        """Hash: one invite (inviter, status pending|paired|revoked, exp, invitee, token, ...)."""
        return f"invite:{invite_id}"

    @staticmethod
    def invites_of(aid: str) -> str:
        """Sorted set invite_id -> created (ms): the invites ``aid`` issued (for /invite status)."""
        return f"invite:user:{_tag(aid)}"

    @staticmethod
    def pairs_of(aid: str) -> str:
        """Sorted set other account id -> paired_at (ms): everyone ``aid`` is paired with."""
        return f"pairs:{_tag(aid)}"

    @staticmethod
    def pair_decision(invite_id: str) -> str:
        """Hash: the pairing's counted/reward decisions for one accepted invite (kept with the
        invite), so a retried acceptance repeats them instead of deciding again."""
        return f"invite:{{pairs}}:decided:{invite_id}"

    @staticmethod
    def pair_seen(digest: str) -> str:
        """Forever marker (keyed hash of the sorted pair, no raw ids): this pair was counted once."""
        return f"invite:{{pairs}}:seen:{digest}"

    @staticmethod
    def invitee_rewarded(digest: str) -> str:
        """Forever marker (keyed hash of the invitee, no raw id): this person received the
        invitee reward once; survives /delete so it is paid at most once per person ever."""
        return f"invite:{{pairs}}:inviteepaid:{digest}"

    @staticmethod
    def referral_rewards_day(digest: str, day: str) -> str:
        """Counter of inviter rewards paid to one inviter (keyed hash) on ``day``; expires two
        days later. Caps referral rewards per inviter per day."""
        return f"invite:{{pairs}}:rewardday:{digest}:{day}"

    @staticmethod
    def leaderboard_all() -> str:
        """Sorted set pseudonymous member -> successful pairings, all time."""
        return "leaderboard:{pairs}:all"

    @staticmethod
    def leaderboard_week(week: str) -> str:
        """Sorted set pseudonymous member -> successful pairings in ISO week ``2025-W03``."""
        return f"leaderboard:{{pairs}}:week:{week}"

    @staticmethod
    def streak(aid: str) -> str:
        """Hash: check-in streak (last day ordinal, count, grace_used, best, total)."""
        return f"streak:{_tag(aid)}"

    # --- outbound limits (chat-scoped keys named by a keyed hash of the chat) ----------
    @staticmethod
    def outbound_window(platform: str, scope: str, subject: str) -> str:
        """Sorted set of recent outbound sends (member -> ms) for one limit scope. ``subject``
        is ``global`` or a keyed hash of the chat; tagged so a chat's windows and pause share
        a slot."""
        return f"outbound:{platform}:{scope}:{_tag(platform + ':' + subject)}"

    @staticmethod
    def outbound_pause(platform: str, subject: str) -> str:
        """Key whose PTTL pauses sending to ``subject`` (a chat hash or "global") after a 429."""
        return f"outbound:{platform}:pause:{_tag(platform + ':' + subject)}"

    # --- durable inbox and outbox (owned by bot/core/inbox.py, bot/core/outbox.py) --------
    @staticmethod
    def inbox_stream(platform: str, partition: int) -> str:
        """Stream of received updates of one partition (chats hash to partitions); entries are
        deleted once handled, so what is left is exactly the work not yet done."""
        return f"inbox:{{{platform}:p{partition}}}"

    @staticmethod
    def inbox_seen(platform: str, partition: int, source_id: str) -> str:
        """Intake marker (SET NX EX): this platform update was stored once; duplicates are dropped.
        Tagged with its partition (an update always hashes to the same one): one slot per batch."""
        return f"inbox:{{{platform}:p{partition}}}:seen:{source_id}"

    @staticmethod
    def inbox_lease(platform: str, partition: int) -> str:
        """The process that owns one inbox partition (value: owner id, PX = lease)."""
        return f"inbox:{platform}:lease:p{partition}"

    @staticmethod
    def inbox_members(platform: str) -> str:
        """Sorted set owner id -> heartbeat ms: live inbox consumers (for a fair share of partitions)."""
        return f"inbox:{platform}:members"

    # --- platform webhook registration (single keys, no multi-key operation) -------------
    @staticmethod
    def webhook_registered(platform: str) -> str:
        """String: keyed fingerprint of the webhook (URL, secret, update types) last
        registered with the platform, so N processes register once (``TelegramAdapter``)."""
        return f"webhook:{platform}:registered"

    @staticmethod
    def webhook_lock(platform: str) -> str:
        """Lock (expires by itself): one process at a time checks and registers the webhook."""
        return f"webhook:{platform}:lock"

    # --- Discord (single keys, no multi-key operation) --------------------------------------
    @staticmethod
    def discord_commands(app_id: str, scope: str) -> str:
        """String: digest of the slash-command payload last synced for an application, per scope
        (``global`` or a guild id), so a start with unchanged commands does not sync again."""
        return f"discord:{app_id}:commands:{scope}"

    @staticmethod
    def discord_shard_lease(app_id: str, shard_count: int, shard_id: int) -> str:
        """The process that owns one gateway shard (value: owner id, PX = lease): a shard is
        run by one process, so two processes never answer the same interaction."""
        return f"discord:{app_id}:shard:{shard_count}:{shard_id}"

    @staticmethod
    def outbox_partition(job_id: str) -> int:
        return zlib.crc32(job_id.encode("utf-8")) % OUTBOX_PARTITIONS

    @staticmethod
    def outbox_job(job_id: str) -> str:
        """Hash: one durable outgoing answer (kind, account, hold, state, encrypted data and
        reply), in its partition's slot."""
        return f"outbox:{{ob:p{K.outbox_partition(job_id)}}}:job:{job_id}"

    @staticmethod
    def outbox_due(partition: int) -> str:
        """Sorted set job id -> when (ms) it may next run (its lease end while a process owns it)."""
        return f"outbox:{{ob:p{partition}}}:due"

    # --- broadcast (owned by bot/core/broadcast; one tag for the family) -----------------
    @staticmethod
    def broadcast_subs() -> str:
        """Hash account id -> "HH:MM|<platform>": every daily-broadcast subscriber, their local
        send time and the platform they subscribed on."""
        return "bcast:{b}:subs"

    @staticmethod
    def broadcast_due() -> str:
        """Sorted set account id -> next due instant (epoch seconds, a UTC minute boundary)."""
        return "bcast:{b}:due"

    @staticmethod
    def broadcast_marks() -> str:
        """Legacy hash account id -> "<local day>:<state>" (one field per subscriber, written
        before the per-day buckets): still read, emptied as accounts get new markers."""
        return "bcast:{b}:mark"

    @staticmethod
    def broadcast_mark_prefix() -> str:
        """Prefix of the per-day marker keys; the Lua scripts append ``<day>:<bucket>`` and
        ``<day>:n`` (``bot/core/broadcast/marks.py``)."""
        return "bcast:{b}:mark:"

    @staticmethod
    def broadcast_mark_bucket(day: str, bucket: int) -> str:
        """Hash account id -> state letter: one bucket of the delivery markers of local ``day``
        (listpack-sized; expires as a whole at 14:00 UTC the day after ``day``)."""
        return f"{K.broadcast_mark_prefix()}{day}:{bucket}"

    @staticmethod
    def broadcast_mark_count(day: str) -> str:
        """The number of marker buckets of local ``day``, fixed by its first marker."""
        return f"{K.broadcast_mark_prefix()}{day}:n"

    @staticmethod
    def broadcast_stream(platform: str) -> str:
        """Stream of queued daily fortunes for one platform (fields u=account, d=day, a=attempt)."""
        return f"bcast:{{b}}:queue:{platform}"

    @staticmethod
    def broadcast_retry(platform: str) -> str:
        """Sorted set "account|day|attempt" -> when (Redis ms) to put a failed send back."""
        return f"bcast:{{b}}:retry:{platform}"

    @staticmethod
    def broadcast_dead() -> str:
        """Stream of sends given up after repeated failures (dead letters, for operators)."""
        return "bcast:{b}:dead"

    @staticmethod
    def broadcast_stats(utc_day: str) -> str:
        """Hash of broadcast counters (queued, sent, unknown, failed, ...) for one UTC day."""
        return f"bcast:{{b}}:stats:{utc_day}"

    @staticmethod
    def broadcast_rate(bucket: int) -> str:
        """Counter of sends in one 5-second bucket (epoch seconds // 5), for the current rate."""
        return f"bcast:{{b}}:rate:{bucket}"

    @staticmethod
    def broadcast_pace(platform: str) -> str:
        """The broadcast's next free send slot for one platform (Redis ms, GCRA-style pacing)."""
        return f"bcast:{{b}}:pace:{platform}"

    @staticmethod
    def broadcast_paused() -> str:
        """Present while operators paused the broadcast (value: who/when)."""
        return "bcast:{b}:paused"

    # --- operations (/ops) ----------------------------------------------------------------
    # Every ops key but the metric buckets carries the ``{ops}`` tag: the audit stream,
    # confirmation tokens, incidents and alert states live in one slot, so an incident's hash,
    # its timeline and the open-incident index change together in one script.
    @staticmethod
    def ops_audit() -> str:
        """Stream: the append-only audit log of every ops command, confirmation, refusal and
        alert state change (trimmed only by age, ``ops.audit_retention_days``)."""
        return "ops:{ops}:audit"

    @staticmethod
    def ops_confirm(token: str) -> str:
        """Hash of one pending confirmation (admin, command text, surface, channel); 60 s TTL."""
        return f"ops:{{ops}}:confirm:{token}"

    @staticmethod
    def ops_procs() -> str:
        """Hash process id -> JSON heartbeat (version, started, platforms' health as probed there)."""
        return "ops:{ops}:procs"

    @staticmethod
    def ops_metrics(minute: int) -> str:
        """Hash of one minute's request figures summed over every process (``minute`` = epoch
        seconds // 60): counts, latency histogram buckets, and each process's last flush seq."""
        return f"ops:metrics:{minute}"

    @staticmethod
    def ops_leader() -> str:
        """The alert evaluator's lease: one process at a time evaluates and posts alerts."""
        return "ops:{ops}:leader"

    @staticmethod
    def ops_alert(name: str) -> str:
        """Hash: one alert's state (pending/firing/ok, since, notified, acked, silenced until)."""
        return f"ops:{{ops}}:alert:{name}"

    @staticmethod
    def ops_alerts() -> str:
        """Set of alert names that have a state hash (for ``/ops alerts``)."""
        return "ops:{ops}:alerts"

    @staticmethod
    def ops_incident_seq() -> str:
        """Counter: the last incident number issued."""
        return "ops:{ops}:incident:seq"

    @staticmethod
    def ops_incident(number: int) -> str:
        """Hash: one incident (severity, title, state, declared/acked/resolved by and at, deadline)."""
        return f"ops:{{ops}}:incident:{number}"

    @staticmethod
    def ops_incident_timeline(number: int) -> str:
        """List: one incident's timeline (JSON entries: at, who, what, text), oldest first."""
        return f"ops:{{ops}}:incident:{number}:timeline"

    @staticmethod
    def ops_incidents_open() -> str:
        """Sorted set: open (not resolved) incident numbers -> declared at (ms)."""
        return "ops:{ops}:incidents:open"

    # --- Slack ops surface (bot/handlers/slack) ------------------------------------------
    @staticmethod
    def slack_seen(kind: str, ident: str) -> str:
        """Marker (``SET NX``, a day): a Slack request was taken by one process. ``kind`` is
        ``command`` / ``action`` (by ``trigger_id``) or ``event`` (by ``event_id``)."""
        return f"slack:seen:{kind}:{ident}"
