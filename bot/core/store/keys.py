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
    def ledger_checkpoint(uid: str) -> str:
        """Hash: the ledger entries compacted away (count, sum, balance_at, ts, open holds).

        ``ledger_compact.lua`` folds the oldest entries of ``ledger:<uid>`` into it.
        """
        return f"ledger:ckpt:{uid}"

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

    @staticmethod
    def payment_refund_lock(charge_id: str) -> str:
        """Short lock (SET NX EX): one platform refund attempt or operator close at a time."""
        return f"payment:tg:{charge_id}:refund-lock"

    # --- secrets --------------------------------------------------------------------
    @staticmethod
    def dev_signing_secret() -> str:
        """Development only (no SIGNING_SECRET): the random signing secret every process shares
        (64 hex chars, created once with SET NX, never expires)."""
        return "secret:signing:dev"

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
        return [f"session:{uid}:*", f"unlock:{uid}:*", f"aicache:{uid}:*", f"ratelimit:*:{uid}",
                f"idem:{uid}:*"]

    @staticmethod
    def kept_on_erasure(key: str) -> bool:
        """Per-user keys /delete keeps: a Stars payment's grant and refund idempotency records
        (a redelivered payment must never grant again; a refund must never take twice)."""
        return key.startswith("idem:") and (":tgpay:" in key or ":tgrefund:" in key)

    # --- AI (owned by bot/core/ai; keep this section together) -----------------------
    @staticmethod
    def ai_breaker(provider: str) -> str:
        """Hash: circuit breaker state of one AI provider (state, until, probe, reason)."""
        return f"ai:breaker:{provider}"

    @staticmethod
    def ai_breaker_calls(provider: str) -> str:
        """Sorted set of recent calls (member -> ms) in the breaker's failure-rate window."""
        return f"ai:breaker:{provider}:calls"

    @staticmethod
    def ai_breaker_failures(provider: str) -> str:
        """Sorted set of recent failed calls (member -> ms) in the breaker's window."""
        return f"ai:breaker:{provider}:fails"

    @staticmethod
    def ai_cache(uid: str, kind: str, day: str, digest: str) -> str:
        """A same-day AI reading (JSON), served again without a second charge."""
        return f"aicache:{uid}:{kind}:{day}:{digest}"

    @staticmethod
    def ai_inflight(uid: str, kind: str, day: str, digest: str) -> str:
        """Short lock: one identical paid AI reading in flight per user at a time."""
        return f"aicache:{uid}:{kind}:{day}:{digest}:lock"

    @staticmethod
    def ai_spend(utc_day: str) -> str:
        """Integer micro-dollars spent on AI providers on one UTC day (expires after 3 days)."""
        return f"ai:spend:{utc_day}"

    @staticmethod
    def ai_spend_capped(utc_day: str) -> str:
        """Marker: ``ai_spend_cap_reached`` was logged for this UTC day (SET NX, once a day)."""
        return f"ai:spend:{utc_day}:capped"

    @staticmethod
    def pair(a: str, b: str) -> str:
        """Marker that users ``a`` and ``b`` are paired (written by invites; order-free)."""
        x, y = sorted((a, b))
        return f"pair:{x}|{y}"

    # --- invites, streaks, leaderboard (owned by bot/core/invites.py, streaks.py, leaderboard.py)
    @staticmethod
    def invite(invite_id: str) -> str:
        """Hash: one invite (inviter, status pending|paired|revoked, exp, invitee, token, ...)."""
        return f"invite:{invite_id}"

    @staticmethod
    def invites_of(uid: str) -> str:
        """Sorted set invite_id -> created (ms): the invites ``uid`` issued (for /invite status)."""
        return f"invite:user:{uid}"

    @staticmethod
    def pairs_of(uid: str) -> str:
        """Sorted set other uid -> paired_at (ms): everyone ``uid`` is paired with."""
        return f"pairs:{uid}"

    @staticmethod
    def pair_seen(digest: str) -> str:
        """Forever marker (keyed hash of the sorted pair, no raw ids): this pair was counted once."""
        return f"invite:pairseen:{digest}"

    @staticmethod
    def invitee_rewarded(digest: str) -> str:
        """Forever marker (keyed hash of the invitee's uid, no raw id): this person received the
        invitee reward once; survives /delete so it is paid at most once per person ever."""
        return f"invite:inviteepaid:{digest}"

    @staticmethod
    def referral_rewards_day(digest: str, day: str) -> str:
        """Counter of inviter rewards paid to one inviter (keyed hash of the uid) on their local
        ``day``; expires two days later. Caps referral rewards per inviter per day."""
        return f"invite:rewardday:{digest}:{day}"

    @staticmethod
    def streak(uid: str) -> str:
        """Hash: check-in streak (last day ordinal, count, grace_used, best, total)."""
        return f"streak:{uid}"

    @staticmethod
    def leaderboard_all() -> str:
        """Sorted set pseudonymous member -> successful pairings, all time."""
        return "leaderboard:pairs:all"

    @staticmethod
    def leaderboard_week(week: str) -> str:
        """Sorted set pseudonymous member -> successful pairings in ISO week ``2025-W03`` (Asia/Seoul)."""
        return f"leaderboard:pairs:week:{week}"

    @staticmethod
    def leaderboard_week_pattern() -> str:
        return "leaderboard:pairs:week:*"

    # --- telegram / outbound / payments (owned by bot/handlers/telegram, bot/core/outbound.py,
    # bot/core/payments.py; keep this section together) --------------------------------
    @staticmethod
    def telegram_update_seen(bot_id: str, update_id: int) -> str:
        """Marker (SET NX EX) that one Telegram update was taken by some bot process."""
        return f"tg:update:{bot_id}:{update_id}"

    @staticmethod
    def outbound_window(platform: str, scope: str, subject: str) -> str:
        """Sorted set of recent outbound sends (member -> ms) for one limit scope."""
        return f"outbound:{platform}:{scope}:{subject}"

    @staticmethod
    def outbound_pause(platform: str, subject: str) -> str:
        """Key whose PTTL pauses sending to ``subject`` (a chat id or "global") after a 429."""
        return f"outbound:{platform}:pause:{subject}"

    @staticmethod
    def payments_index() -> str:
        """Sorted set of Telegram Stars charge ids -> payment time (ms), for ops listings."""
        return "payments:tg"

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

    @staticmethod
    def inbox_noted(scope: str, uid: str) -> str:
        """Marker (SET NX PX): the rate-limit note was already sent in this window."""
        return f"ratelimit:noted:{scope}:{uid}"

    @staticmethod
    def outbox_job(job_id: str) -> str:
        """Hash: one durable outgoing answer (kind, uid, hold, state, encrypted data and reply)."""
        return f"outbox:job:{job_id}"

    @staticmethod
    def outbox_due() -> str:
        """Sorted set job id -> when (ms) it may next run (its lease end while a process owns it)."""
        return "outbox:due"

    @staticmethod
    def ask_last(uid: str) -> str:
        """The last /ask answer of the user's local day (JSON), shown free by ``/ask last``."""
        return f"session:{uid}:ask_last"

    # --- broadcast (owned by bot/core/broadcast; keep this section together) -------------
    @staticmethod
    def broadcast_subs() -> str:
        """Hash uid -> "HH:MM": every daily-broadcast subscriber and their local send time."""
        return "bcast:subs"

    @staticmethod
    def broadcast_due() -> str:
        """Sorted set uid -> next due instant (epoch seconds, a UTC minute boundary)."""
        return "bcast:due"

    @staticmethod
    def broadcast_marks() -> str:
        """Hash uid -> "<local day>:<state>": the per-user-per-day delivery marker (q s S u f b x)."""
        return "bcast:mark"

    @staticmethod
    def broadcast_stream(platform: str) -> str:
        """Stream of queued daily fortunes for one platform (fields u=uid, d=day, a=attempt)."""
        return f"bcast:queue:{platform}"

    @staticmethod
    def broadcast_retry(platform: str) -> str:
        """Sorted set "uid|day|attempt" -> when (Redis ms) to put a failed send back in the stream."""
        return f"bcast:retry:{platform}"

    @staticmethod
    def broadcast_dead() -> str:
        """Stream of sends given up after repeated failures (dead letters, for operators)."""
        return "bcast:dead"

    @staticmethod
    def broadcast_stats(utc_day: str) -> str:
        """Hash of broadcast counters (queued, sent, unknown, failed, ...) for one UTC day."""
        return f"bcast:stats:{utc_day}"

    @staticmethod
    def broadcast_rate(bucket: int) -> str:
        """Counter of sends in one 5-second bucket (epoch seconds // 5), for the current rate."""
        return f"bcast:rate:{bucket}"

    @staticmethod
    def broadcast_pace(platform: str) -> str:
        """The broadcast's next free send slot for one platform (Redis ms, GCRA-style pacing)."""
        return f"bcast:pace:{platform}"

    @staticmethod
    def broadcast_paused() -> str:
        """Present while operators paused the broadcast (value: who/when)."""
        return "bcast:paused"
