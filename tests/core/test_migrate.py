"""Key layout v1 -> v2 (``python -m bot migrate``) on a dataset written by the v1 code itself.

The module fixture extracts commit bba5aa1 (``git archive``) and runs
``tests/support/v1_dataset.py`` in that tree against this session's redis-server: onboarding,
a purchase, /ask and a paid reading (a fake AI server), an invite accepted, check-ins,
subscriptions, two v1 /deletes (one who came back), holds left open in every way a v1 process
could leave them, a queued / retried / dead broadcast. The resulting keys are dumped once and
restored (RESTORE) before each test.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.__main__ import main
from bot.app import build_core
from bot.core.clock import FixedClock
from bot.core.leaderboard import Leaderboard
from bot.core.migrate import (
    STEPS,
    LayoutError,
    Migration,
    MigrationError,
    MigrationInterrupted,
    MigrationRefused,
    check_layout,
    migrate_v1_to_v2,
    v1_family,
)
from bot.core.profiles import ENCRYPTED_FIELDS
from bot.core.service import Core
from bot.core.settings import DEFAULT_CONFIG
from bot.core.store import K
from tests.support.factory import TEST_KEY, make_core
from tests.support.factory import test_settings as settings_for
from tests.support.redis_cluster import RedisCluster3
from tests.support.redis_proc import RedisProcess

V1_COMMIT = "bba5aa1"
REPO = Path(__file__).resolve().parents[2]
#: 2025-01-08 01:00 UTC, the day after the v1 activity.
T_MIG = 1736298000.0
ALICE, BOB, CAROL, DAVE = "tg:1001", "tg:1002", "tg:1003", "tg:1004"
#: Added by the tests: a profile from the first release (legacy v1 ciphertext, one corrupt
#: value), and a welcome marker of a person erased in v1 of whom nothing else is left.
ERIN, ERASED = "tg:1005", "tg:1099"
PLATFORM_IDS = re.compile(r"tg:10\d\d")

#: Transient v1 keys the v1 adapters write (shapes from bba5aa1's keys.py), added to the dataset.
V1_TRANSIENT: dict[str, tuple[str, Any]] = {
    "tg:update:7000:555": ("string", "1"),
    "outbound:tg:chat:1001": ("zset", {"m1": 1.0}),
    "outbound:tg:pause:1001": ("string", "1"),
    "ratelimit:noted:command:tg:1001": ("string", "1"),
    "ratelimit:command:tg:1004": ("zset", {"r1": 1.0}),
    "ratelimit:invite_ip:203.0.113.9": ("zset", {"r2": 1.0}),
    "ai:breaker:anthropic": ("hash", {"state": "open"}),
    "payment:tg:ch-alice-1:refund-lock": ("string", "lock"),
    "bcast:rate:347216000": ("string", "3"),
    "bcast:pace:tg": ("string", "123"),
}
#: v1 keys kept under their v2 names.
V1_KEPT = {"bcast:paused": "ops@1736125200", "ratelimit:config": {"ai": "5:60"}}


@dataclass
class V1Data:
    facts: dict[str, Any]
    dump: list[tuple[bytes, bytes, int]]
    config: Path  # v2 config (ledger_keep_entries = 10, as the v1 run had)


def _config(defaults: Path, out: Path) -> Path:
    text = re.sub(r"(?m)^ledger_keep_entries = .*$", "ledger_keep_entries = 10", defaults.read_text("utf-8"))
    out.write_text(text, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def v1(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> V1Data:
    root = tmp_path_factory.mktemp("v1")
    tree = root / "tree"
    tree.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", V1_COMMIT], capture_output=True,
                                 check=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the v1 code (commit {V1_COMMIT}) is not available in this checkout: {exc}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tree, filter="data")
        else:  # Python < 3.11.4; our own repository's archive
            tar.extractall(tree)
    shutil.copy(REPO / "tests" / "support" / "v1_dataset.py", tree / "v1_dataset.py")
    v1_config = _config(tree / "config" / "defaults.toml", root / "v1.toml")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "SIGNING_", "PROFILE_", "OPENAI", "ANTHROPIC", "CONFIG_FILE",
                                "TELEGRAM", "DISCORD", "SENTRY", "APP_ENV", "DATA_DIR"))}
    env["PYTHONPATH"] = str(tree)
    proc = subprocess.run([sys.executable, "v1_dataset.py", redis_server.url, str(root / "data"), str(v1_config)],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    dump = [(k, client.dump(k), client.pttl(k)) for k in client.scan_iter(count=1000)]
    client.flushall()
    client.close()
    return V1Data(facts, dump, _config(DEFAULT_CONFIG, root / "v2.toml"))


def restore(url: str, data: V1Data, extras: bool = True) -> None:
    """The v1 dataset into the (flushed) test Redis, plus transient v1 keys of the adapters."""
    client = redis.Redis.from_url(url, decode_responses=False)
    for key, payload, ttl in data.dump:
        client.restore(key, max(int(ttl), 0), payload, replace=True)
    if extras:
        for key, (kind, value) in V1_TRANSIENT.items():
            if kind == "string":
                client.set(key, value, ex=3600)
            elif kind == "zset":
                client.zadd(key, value)
            else:
                client.hset(key, mapping=value)
        client.set("bcast:paused", V1_KEPT["bcast:paused"])
        client.hset("ratelimit:config", mapping=V1_KEPT["ratelimit:config"])  # type: ignore[arg-type]
    client.close()


def v2_core(url: str, tmp_path: Path, data: V1Data) -> Core:
    return make_core(url, tmp_path, clock=FixedClock(T_MIG), CONFIG_FILE=str(data.config))


async def snapshot(core: Core) -> dict[str, tuple[str, Any, bool]]:
    """Every key: (type, content, has a TTL)."""
    r = core.store.redis
    keys = sorted({k async for k in r.scan_iter(count=1000)})
    async with r.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
            pipe.pttl(key)
        meta = await pipe.execute()
    kinds = meta[0::2]
    async with r.pipeline(transaction=False) as pipe:
        for key, kind in zip(keys, kinds, strict=True):
            if kind == "string":
                pipe.get(key)
            elif kind == "hash":
                pipe.hgetall(key)
            elif kind == "list":
                pipe.lrange(key, 0, -1)
            elif kind == "set":
                pipe.smembers(key)
            elif kind == "zset":
                pipe.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                pipe.xrange(key)
            else:
                raise AssertionError(f"unexpected type {kind} of {key}")
        values = await pipe.execute()
    return {key: (kind, sorted(value) if kind == "set" else value, ttl > 0)
            for key, kind, ttl, value in zip(keys, kinds, meta[1::2], values, strict=True)}


def normalise(core: Core, snap: dict[str, tuple[str, Any, bool]], accounts: dict[str, str]) -> dict[str, Any]:
    """A snapshot with what is random per run made comparable: account ids (and the
    leaderboard members derived from them) named by their v1 id, ciphertexts decrypted,
    registry expiries (clock + remaining TTL) reduced to finite / never."""
    names = {aid: f"<{v1_id}>" for v1_id, aid in accounts.items()}
    board = Leaderboard(core)
    names.update({board.member(aid): f"<board {v1_id}>" for v1_id, aid in accounts.items()})
    pattern = re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))

    def sub(text: str) -> str:
        return pattern.sub(lambda m: names[m.group(0)], text)

    out: dict[str, Any] = {}
    for key, (kind, value, ttl) in snap.items():
        if key.startswith("profile:{"):
            aid = key.removeprefix("profile:{").removesuffix("}")
            value = {f: core.cipher.decrypt(v, aid, f) if f in ENCRYPTED_FIELDS and v else v for f, v in value.items()}
        elif key.startswith("outbox:{") and ":job:" in key:
            owner = "outbox:" + key.partition(":job:")[2]
            value = {f: core.cipher.decrypt(v, owner, "job") if f in ("data", "reply") and v else v
                     for f, v in value.items()}
        elif key.startswith("acct:{") and key.endswith(":keys"):
            value = [(m, "never" if s == math.inf else "finite") for m, s in value]
        value = json.loads(sub(json.dumps(value, sort_keys=True, ensure_ascii=False)))
        if kind in ("set", "zset"):
            value = sorted(value)
        out[sub(key)] = (kind, value, ttl)
    return out


def legacy_v1(plaintext: str, owner: str) -> str:
    """A birth value as the first release wrote it (associated data = owner, no key id)."""
    key = base64.urlsafe_b64decode(TEST_KEY)
    nonce = os.urandom(12)
    return "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext.encode(),
                                                                          owner.encode())).decode()


async def add_old_shapes(core: Core) -> None:
    """v1 data the v1 run does not produce: a legacy profile, an erased person's welcome marker."""
    r = core.store.redis
    corrupt = f"v2:{core.cipher.current_kid}:" + base64.urlsafe_b64encode(os.urandom(40)).decode()
    await r.hset(f"profile:{ERIN}", mapping={"lang": "ko", "tz": "Asia/Seoul", "step": "done", "created": "1700000000",
                                            "terms_at": "1700000000", "birth": legacy_v1("1970-01-02", ERIN),
                                            "birth_time": corrupt})
    await r.sadd("profiles:all", ERIN)
    first = {"status": "ok", "balance": 3, "entry": {"id": "0123456789abcdef", "ts": 1700000000000, "kind": "bonus",
                                                    "amount": 3, "balance": 3, "reason": "welcome bonus"}}
    await r.set("idem:welcome:" + core.ledger.person_marker(ERASED), json.dumps(first))


async def all_values(core: Core) -> list[str]:
    return [json.dumps([k, v], ensure_ascii=False) for k, (_, v, _) in (await snapshot(core)).items()]


# --- the migration ---------------------------------------------------------------------------

async def test_a_v1_dataset_is_migrated_completely(v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    facts = v1.facts
    restore(redis_url, v1)
    core = v2_core(redis_url, tmp_path, v1)
    r = core.store.redis
    await add_old_shapes(core)
    with pytest.raises(LayoutError, match=r"python -m bot migrate"):
        await check_layout(core)

    report = await migrate_v1_to_v2(core)
    aid = report.accounts
    a, b, c, d = aid[ALICE], aid[BOB], aid[CAROL], aid[DAVE]
    anons = sorted(x for x in facts["accounts"] if x.startswith("anon:"))
    assert len(anons) == 2 and set(aid) == {ALICE, BOB, CAROL, DAVE, ERIN, *anons}
    assert await r.get(K.layout_version()) == "2"
    assert report.counts["holds_released"] == 3 and report.counts["holds_captured"] == 1

    # money: every account reconciles, balances and entry counts are v1's plus the settled holds
    assert sorted(await r.smembers(K.accounts_index())) == sorted(aid.values())
    assert await core.ledger.reconcile_all() == []
    assert await core.ledger.balance(aid[ERIN]) == 0
    settled: dict[str, list[dict[str, Any]]] = {}
    for hold in facts["holds"].values():
        settled.setdefault(hold["uid"], []).append(hold)
    for v1_id, before in facts["accounts"].items():
        rec = await core.ledger.reconcile(aid[v1_id])
        mine = settled.get(v1_id, [])
        released = sum(h["amount"] for h in mine if h["action"] == "release")
        assert rec.ok and rec.held == 0, (v1_id, rec)
        assert rec.balance == before["balance"] + released, v1_id
        assert rec.entries == before["entries"] + len(mine), v1_id
    assert await core.ledger.balance(d) == 0 and facts["balances"][DAVE] == 0  # Dave's ledger went to anon:
    assert (await core.ledger.checkpoint(b)).count > 0  # Bob's compacted ledger moved with its checkpoint

    # payments by charge id, with the account instead of the platform id; the kept records
    # still tell a current account's purchase from one that v1 /delete detached
    for charge, who in (("ch-alice-1", a), ("ch-carol-1", c), ("ch-dave-1", d)):
        info = await r.hgetall(K.payment(charge))
        assert info["account"] == who and "uid" not in info and info["status"] == "paid", charge
        assert info["payload"] == f"credit_10|{who}" and info["entry_id"] == facts["payments"][charge]["entry_id"]
        assert await r.zscore(K.payments_index(), charge) is not None
    assert (await r.hgetall(K.sales_day("2025-01-06")))["credits"] == "30"
    assert await core.ledger.owned_entry(a, "tgpay:ch-alice-1") is not None
    assert await core.ledger.owned_entry(c, "tgpay:ch-carol-1") is None  # bought before her v1 /delete

    # identities: live users are reachable, the v1-deleted Dave and the anon ledgers are not
    for uid in (ALICE, BOB, CAROL):
        assert await core.accounts.lookup(uid) == aid[uid]
        assert await core.accounts.target(aid[uid]) == ("tg", uid.partition(":")[2])
        assert await core.accounts.person(aid[uid]) == core.accounts.person_digest(uid)
    assert await core.accounts.lookup(DAVE) is None and await r.exists(K.account_meta(d)) == 0
    assert [await r.exists(K.account_meta(aid[x])) for x in anons] == [0, 0]

    # profiles: birth data re-encrypted for the account, same values
    for uid, want in facts["profiles"].items():
        profile = await core.profiles.get(aid[uid])
        assert profile is not None and profile.onboarded, uid
        assert profile.birth == date.fromisoformat(want["birth"]) and profile.birth_time == want["birth_time"]
        assert (profile.tz, profile.lang) == (want["tz"], want["lang"])
        raw = await r.hget(K.profile(aid[uid]), "birth")
        assert core.cipher.decrypt(raw, uid, "birth") is None  # bound to the account now
    erin = await core.profiles.get(aid[ERIN])  # legacy value re-encrypted; the corrupt one kept as it was
    assert erin is not None and erin.birth == date(1970, 1, 2) and erin.birth_time is None
    assert (await r.hget(K.profile(aid[ERIN]), "birth") or "").startswith(f"v2:{core.cipher.current_kid}:")
    assert report.counts["profiles_unreadable_fields"] == 1

    # pairs, invites, decisions, markers, leaderboard
    assert dict(await r.zrange(K.pairs_of(a), 0, -1, withscores=True)) == {b: facts["pairs"][ALICE][BOB]}
    assert dict(await r.zrange(K.pairs_of(b), 0, -1, withscores=True)) == {a: facts["pairs"][BOB][ALICE]}
    [accepted] = [i for i, inv in facts["invites"].items() if inv["status"] == "paired"]
    invite = await r.hgetall(K.invite(accepted))
    assert (invite["inviter"], invite["invitee"]) == (a, b)
    decided = await r.hgetall(K.pair_decision(accepted))
    paired_at = facts["invites"][accepted]["paired_at"]
    assert decided == {"counted": "1", "rw_inviter": "1", "rw_invitee": "1", "at": paired_at, "done": paired_at}
    assert await r.pttl(K.pair_decision(accepted)) > 0
    pending = await r.hgetall(K.invite(facts["carol_invite"]))
    assert pending["inviter"] == c and pending["status"] == "pending"
    assert await r.exists(K.pair_decision(facts["carol_invite"])) == 0
    assert await r.zrange(K.invites_of(c), 0, -1) == [facts["carol_invite"]]
    assert accepted in await r.zrange(K.invites_of(a), 0, -1)
    board = Leaderboard(core)
    assert await r.zrange(K.leaderboard_all(), 0, -1, withscores=True) == [(board.member(a), 1.0)]
    assert await r.zrange(K.leaderboard_week("2025-W02"), 0, -1, withscores=True) == [(board.member(a), 1.0)]
    for prefix in ("invite:{pairs}:seen:", "invite:{pairs}:inviteepaid:", "invite:{pairs}:rewardday:"):
        assert len([k async for k in r.scan_iter(match=prefix + "*")]) == 1, prefix
    # ... under the names the v2 code looks them up by, so the pair is never counted again and
    # the invitee reward is never paid again (person digests of the identities).
    invites = core.invites
    alice_p, bob_p = await invites.person(a), await invites.person(b)
    assert await r.exists(K.pair_seen(invites.pair_digest(alice_p, bob_p)))
    assert await r.exists(K.invitee_rewarded(bob_p))

    # streaks, sessions, unlocks, AI cache (registered for erasure), broadcast
    for uid in (ALICE, BOB):
        assert await r.hgetall(K.streak(aid[uid])) == facts["streaks"][uid]
    registry = await core.accounts.registry(a)
    for key in (K.session(a, "ask"), K.ask_last(a), K.unlock(a, "fortune_details", "2025-01-06"),
                K.ai_cache(a, "fortune", "2025-01-06", "today")):
        assert await r.exists(key) and await r.pttl(key) > 0, key
        assert f"k|{key}" in registry, key
    assert await r.exists(K.unlock(b, "fortune_details", "2025-01-06"))
    assert not [k async for k in r.scan_iter(match="aicache:*:lock")]  # in-flight lock dropped
    assert await r.hgetall(K.broadcast_subs()) == {
        aid[u]: f"{hhmm}|tg" for u, hhmm in facts["subs"].items()}
    assert await r.hgetall(K.broadcast_marks()) == {aid[u]: m for u, m in facts["marks"].items()}
    assert dict(await r.zrange(K.broadcast_due(), 0, -1, withscores=True)) == {
        aid[u]: s for u, s in facts["due"].items()}
    [(_, queued)] = await r.xrange(K.broadcast_stream("tg"))
    assert queued["u"] == a and queued["d"] == facts["marks"][ALICE][:10]
    [retry] = await r.zrange(K.broadcast_retry("tg"), 0, -1)
    assert retry == f"{b}|{facts['marks'][BOB][:10]}|1"
    [(_, dead)] = await r.xrange(K.broadcast_dead())
    assert dead["u"] == c and dead["reason"] == "test"
    assert await r.get(K.broadcast_paused()) == V1_KEPT["bcast:paused"]
    assert await r.hgetall("ratelimit:config") == V1_KEPT["ratelimit:config"]

    # outbox: jobs in their partitions, account + platform, no v1 hold; the in-flight reading is
    # still due and its cache / lock key names inside the encrypted data are v2 names
    job_id = facts["inflight_job"]
    job = await r.hgetall(K.outbox_job(job_id))
    assert job["account"] == b and job["platform"] == "tg" and job["state"] == "new"
    assert not {"uid", "hold", "hold_account", "hold_amount"} & set(job) and job["charge"] == "0"
    assert await r.zscore(K.outbox_due(K.outbox_partition(job_id)), job_id) is not None
    data = json.loads(core.cipher.decrypt(job["data"], f"outbox:{job_id}", "job") or "{}")
    assert data["cache"] == K.ai_cache(b, "fortune", "2025-01-07", "today")
    assert data["lock"] == K.ai_inflight(b, "fortune", "2025-01-07", "today")
    sent = await r.hgetall(K.outbox_job("job-sent"))
    assert sent["state"] == "sent" and sent["account"] == a and "hold" not in sent

    # the welcome bonus is never given twice: not to Alice again, not to Carol (given to her
    # first, deleted account), not to Dave coming back as a new account
    assert await core.ledger.welcome_bonus(a, ALICE) is None
    assert await core.ledger.welcome_bonus(c, CAROL) is None
    dave_again = await core.accounts.resolve(DAVE)
    assert dave_again != d and await core.ledger.welcome_bonus(dave_again, DAVE) is None
    assert await core.ledger.balance(a) == facts["accounts"][ALICE]["balance"] + 1
    assert await core.ledger.balance(dave_again) == 0
    assert await r.get(K.welcome_marker(core.ledger.person_marker(ERASED))) == "erased"
    erased_again = await core.accounts.resolve(ERASED)
    assert await core.ledger.welcome_bonus(erased_again, ERASED) is None
    assert await core.ledger.welcome_bonus(aid[ERIN], ERIN) is not None  # never had one: granted now

    # nothing of v1 is left: no v1 key name, and no key or value with a platform id
    snap = await snapshot(core)
    left = [k for k in snap if v1_family(k) is not None and not (
        k.startswith("invite:") and k.count(":") == 1 and not PLATFORM_IDS.search(snap[k][1]["inviter"]))]
    assert left == []
    assert [v for v in await all_values(core) if PLATFORM_IDS.search(v)] == []
    assert await r.exists(K.migration_map()) == 0
    assert [m for m in await r.zrange(K.hold_deadlines(), 0, -1) if " " in m] == []
    for key in V1_TRANSIENT:
        assert await r.exists(key) == 0, key

    # a second run changes nothing; the bot starts
    again = await migrate_v1_to_v2(core)
    assert again.already and await snapshot(core) == snap
    await check_layout(core)
    await core.store.close()


async def _reference(v1: V1Data, redis_url: str, tmp_path: Path) -> tuple[dict[str, Any], list[int]]:
    """A clean run (batch 1): its normalised end state and the write count after each step."""
    restore(redis_url, v1)
    core = v2_core(redis_url, tmp_path, v1)
    await add_old_shapes(core)
    ends: list[int] = []
    migration = Migration(core, batch=1, progress=lambda _step, _r: ends.append(migration.writes))
    report = await migration.run()
    state = normalise(core, await snapshot(core), report.accounts)
    await core.store.close()
    assert len(ends) == len(STEPS)
    return state, ends


async def _crash_until_done(core: Core, every: int, first: int | None = None) -> tuple[int, dict[str, str]]:
    """Run the migration again and again, each run stopped after ``every`` writes (the first
    after ``first``), until one finishes. Returns the number of crashed runs and the map."""
    accounts: dict[str, str] = {}
    crashes = 0
    limit = first if first is not None else every
    while True:
        migration = Migration(core, batch=1, stop_after=limit)
        try:
            await migration.run()
        except MigrationInterrupted:
            crashes += 1
            assert crashes < 2000, "a rerun made no progress"
        else:
            accounts.update(migration.accounts)
            return crashes, accounts
        accounts.update(migration.accounts)  # the map is deleted at the end: kept from every run
        limit = every


async def test_a_crash_at_any_point_resumes_to_the_same_result(v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    reference, ends = await _reference(v1, redis_url, tmp_path)
    total = ends[-1] + 3  # + map deleted, version set, finished
    # crashed after every single write (each rerun makes one more write and crashes again),
    # every 7th, and once in the middle of each step of an otherwise clean run
    starts = [0, *ends[:-1]]
    scenarios = [(1, None), (7, None)] + [(10_000, (a + b) // 2) for a, b in zip(starts, ends, strict=True)]
    for every, first in scenarios:
        redis.Redis.from_url(redis_url).flushall()
        restore(redis_url, v1)
        core = v2_core(redis_url, tmp_path, v1)
        await add_old_shapes(core)
        crashes, accounts = await _crash_until_done(core, every, first)
        if every == 1:
            assert crashes == total - 1, "one write per run: every run but the last crashed"
        got = normalise(core, await snapshot(core), accounts)
        assert got == reference, (every, first, sorted(set(got) ^ set(reference))[:10])
        assert await core.store.redis.hget(K.migration_state(), "finished")
        await core.store.close()


async def test_the_batch_size_does_not_change_the_result(v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    reference, _ = await _reference(v1, redis_url, tmp_path)
    redis.Redis.from_url(redis_url).flushall()
    restore(redis_url, v1)
    core = v2_core(redis_url, tmp_path, v1)
    await add_old_shapes(core)
    report = await migrate_v1_to_v2(core, batch=500)
    assert normalise(core, await snapshot(core), report.accounts) == reference
    await core.store.close()


# --- refusals ---------------------------------------------------------------------------------

async def test_start_up_refuses_a_v1_dataset_until_it_is_migrated(
        v1: V1Data, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(redis_url, tmp_path, CONFIG_FILE=str(v1.config))
    empty = await build_core(settings)  # an empty database is marked as v2
    assert await empty.store.redis.get(K.layout_version()) == "2"
    await empty.store.redis.flushall()
    await empty.store.close()

    restore(redis_url, v1)
    before = await snapshot(v2_core(redis_url, tmp_path, v1))
    with pytest.raises(LayoutError, match=r"key layout v1.*python -m bot migrate"):
        await build_core(settings)
    core = v2_core(redis_url, tmp_path, v1)
    assert await snapshot(core) == before  # refusing wrote nothing
    with pytest.raises(MigrationInterrupted):
        await migrate_v1_to_v2(core, stop_after=40)
    with pytest.raises(LayoutError, match=r"has not finished.*python -m bot migrate"):
        await build_core(settings)

    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path), "PORT": "0",
                        "SIGNING_SECRET": "test-signing-secret-for-the-suite", "PROFILE_ENCRYPTION_KEY": TEST_KEY,
                        "PROFILE_ENCRYPTION_KEYS": "", "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": "",
                        "SENTRY_DSN": "", "CONFIG_FILE": str(v1.config)}.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        from bot.app import main_entry

        refused = await asyncio.to_thread(main_entry, "run")
        assert refused == 2 and "python -m bot migrate" in capsys.readouterr().out
        code = await asyncio.to_thread(main, ["migrate"])  # resumes the interrupted run
    finally:
        root.handlers[:] = saved
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verify: done" in out and "soul-lab" not in out
    assert await core.store.redis.get(K.layout_version()) == "2"
    assert await core.accounts.lookup(ALICE) is not None
    started = await build_core(settings)
    await started.store.close()
    await core.store.close()


async def test_migrate_refuses_a_cluster(redis_cluster: RedisCluster3, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    core = make_core(redis_cluster.url, tmp_path)
    with pytest.raises(MigrationRefused, match="standalone Redis"):
        await migrate_v1_to_v2(core)
    await core.store.close()
    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_cluster.url, "DATA_DIR": str(tmp_path),
                        "SIGNING_SECRET": "test-signing-secret-for-the-suite",
                        "PROFILE_ENCRYPTION_KEY": TEST_KEY, "PROFILE_ENCRYPTION_KEYS": ""}.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        code = await asyncio.to_thread(main, ["migrate"])
    finally:
        root.handlers[:] = saved
    assert code == 2 and "Redis Cluster" in capsys.readouterr().out


async def test_migrate_refuses_while_a_bot_process_runs(v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    restore(redis_url, v1, extras=False)
    core = v2_core(redis_url, tmp_path, v1)
    await core.store.redis.set("inbox:tg:lease:p3", "owner-1", px=30_000)
    before = await snapshot(core)
    with pytest.raises(MigrationRefused, match="bot process is running"):
        await migrate_v1_to_v2(core)
    assert await snapshot(core) == before
    await core.store.close()


async def test_a_conflicting_v2_key_stops_the_migration_before_the_version_is_set(
        v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    restore(redis_url, v1, extras=False)
    core = v2_core(redis_url, tmp_path, v1)
    r = core.store.redis
    await r.zadd(K.payments_index(), {"ch-other": 1})  # written by v2 code on a v1 dataset
    with pytest.raises(MigrationError, match=re.escape(K.payments_index())):
        await migrate_v1_to_v2(core)
    assert await r.get(K.layout_version()) is None
    assert await r.zrange("payments:tg", 0, -1) == ["ch-alice-1", "ch-carol-1", "ch-dave-1"]
    with pytest.raises(LayoutError, match="has not finished"):
        await check_layout(core)
    await core.store.close()


async def test_birth_data_under_a_key_that_is_not_configured_stops_the_migration(
        v1: V1Data, redis_url: str, tmp_path: Path) -> None:
    restore(redis_url, v1, extras=False)
    core = v2_core(redis_url, tmp_path, v1)
    r = core.store.redis
    await r.hset(f"profile:{ALICE}", "birth_time", "v2:0badc0de:" + base64.urlsafe_b64encode(os.urandom(40)).decode())
    with pytest.raises(MigrationError, match="key id 0badc0de.*PROFILE_ENCRYPTION_KEYS"):
        await migrate_v1_to_v2(core)
    assert await r.exists(f"profile:{ALICE}") and await r.get(K.layout_version()) is None
    await core.store.close()
