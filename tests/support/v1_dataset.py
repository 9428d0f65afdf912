"""Writes a realistic key-layout-v1 dataset with the v1 code itself (commit bba5aa1).

Not imported by the suite: ``tests/core/test_migrate.py`` extracts the v1 tree
(``git archive bba5aa1``) and runs this file as a script with that tree first on
``sys.path``, against the test's redis-server::

    python v1_dataset.py <redis_url> <data_dir> <config_file>

Everything goes through the v1 router, ledger, payments, outbox and broadcast code (the only
stand-ins are the network edges: a fake OpenAI server from the v1 tree and a recording
platform sender). Prints one JSON object of facts read back with the v1 code (balances,
reconciliations, holds left open, payments, …) for the test to compare after the migration.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import bot

V1_ROOT = Path.cwd().resolve()
assert Path(bot.__file__).resolve().is_relative_to(V1_ROOT), f"not the v1 tree: {bot.__file__}"

from bot.core.ai.chain import build_chain  # noqa: E402
from bot.core.broadcast.options import GROUP  # noqa: E402
from bot.core.broadcast.runner import BroadcastRunner  # noqa: E402
from bot.core.broadcast.tick import tick  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from bot.core.errors import ServiceUnavailable  # noqa: E402
from bot.core.features.credits_cmd import invoice_payload  # noqa: E402
from bot.core.payments import record_purchase  # noqa: E402
from bot.core.reply import Reply  # noqa: E402
from bot.core.router import Event  # noqa: E402
from bot.core.service import Core  # noqa: E402
from bot.core.store import K  # noqa: E402
from tests.fakes.ai_servers import FakeAI  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.platform import RecordingPlatform  # noqa: E402

#: Monday 2025-01-06 10:00 in Seoul.
T0 = 1736125200.0
CODE_RE = re.compile(r"/join ([A-Za-z0-9_-]+)")
ALICE, BOB, CAROL, DAVE = "tg:1001", "tg:1002", "tg:1003", "tg:1004"


async def say(core: Core, uid: str, text: str, lang: str | None = None) -> list[Reply]:
    platform, _, user_id = uid.partition(":")
    replies = await core.router.handle(Event(platform, user_id, text, chat_id=user_id, lang_hint=lang,
                                             display_name=f"name-{user_id}"))
    for r in replies:
        assert r.error is None, (uid, text, r.error, r.text)
    return replies


async def onboard(core: Core, uid: str, lang: str, birth: str, time: str, tz: str) -> str:
    await say(core, uid, "/start", lang)
    await say(core, uid, f"/setup lang {lang}")
    await say(core, uid, "/setup terms yes")
    await say(core, uid, "/setup share yes")
    await say(core, uid, birth)
    await say(core, uid, time)
    done = await say(core, uid, f"/setup tz {tz}")
    return done[0].text


async def buy(core: Core, uid: str, charge: str, pack: str = "credit_10", stars: int = 50) -> None:
    res = await record_purchase(core, uid, charge, invoice_payload(pack, uid), "XTR", stars)
    assert res.status == "granted", res


async def main(redis_url: str, data_dir: str, config: str) -> dict[str, Any]:
    clock = FixedClock(T0)
    facts: dict[str, Any] = {"holds": {}, "payments": {}}
    async with FakeAI("openai", "v1 상담 답변입니다") as oa:
        core = make_core(redis_url, Path(data_dir), clock=clock, CONFIG_FILE=config,
                         OPENAI_API_KEY="sk-test-openai", OPENAI_BASE_URL=oa.base_url)
        core.extras["ai"] = build_chain(core, core.settings.product.ai)
        core.extras["telegram_username"] = "@SoulLabBot"
        RecordingPlatform.install(core, "tg")
        r = core.store.redis

        # Alice: onboarding (welcome bonus), a purchase, a check-in, /ask and a paid reading
        facts["alice_done"] = await onboard(core, ALICE, "ko", "1990-05-17", "07:30", "Asia/Seoul")
        await buy(core, ALICE, "ch-alice-1")
        await say(core, ALICE, "/daily")
        await say(core, ALICE, "/ask 요즘 일이 잘 풀릴까요?")
        assert await core.outbox.drain(20)
        await say(core, ALICE, "/reading fortune")
        assert await core.outbox.drain(20)
        await say(core, ALICE, "/subscribe 08:00")
        [inv] = await say(core, ALICE, "/invite")
        token = CODE_RE.search(inv.text).group(1)  # type: ignore[union-attr]

        # Bob joins Alice's invite (pair, rewards, leaderboard), one hold released, one left open
        # and folded into his checkpoint by compaction (ledger_keep_entries = 10 in the config)
        await onboard(core, BOB, "en", "1992-08-01", "/setup time skip", "UTC")
        await say(core, BOB, f"/join {token}")
        released = await core.ledger.hold(BOB, 1, "test hold", "t-release")
        await core.ledger.release(released, "test")
        folded = await core.ledger.hold(BOB, 2, "open hold", "t-open")
        facts["holds"][folded.hold_id] = {"uid": BOB, "amount": 2, "action": "release"}
        for i in range(30):
            await core.ledger.grant(BOB, 1, "filler", f"fill-{i}")
        assert (await core.ledger.checkpoint(BOB)).open_holds == {folded.hold_id: 2}
        await say(core, BOB, "/subscribe 23:00")

        # Carol: buys, deletes her account (anonymised ledger), comes back (no second bonus)
        await onboard(core, CAROL, "ko", "1985-12-01", "/setup time skip", "Asia/Seoul")
        await buy(core, CAROL, "ch-carol-1")
        await say(core, CAROL, "/delete")
        await say(core, CAROL, "/delete confirm")
        facts["carol_again"] = await onboard(core, CAROL, "ko", "1985-12-01", "21:15", "Asia/Seoul")
        await say(core, CAROL, "/subscribe 08:00")
        [carol_inv] = await say(core, CAROL, "/invite")  # stays pending
        facts["carol_invite"] = CODE_RE.search(carol_inv.text).group(1)[:12]  # type: ignore[union-attr]

        # Dave: buys, deletes, never comes back (leaves a payment record and its kept records)
        await onboard(core, DAVE, "en", "1979-03-03", "/setup time skip", "UTC")
        await buy(core, DAVE, "ch-dave-1")
        await say(core, DAVE, "/delete")
        await say(core, DAVE, "/delete confirm")

        # the daily broadcast at 08:00 Seoul on 2025-01-07: three queued, one retried, one dead
        clock.set(T0 + 22 * 3600)
        queued = await tick(core)
        assert queued.queued == 3, queued
        runner = BroadcastRunner(core, platforms=["tg"])
        await runner._ensure_group("tg")
        entries = await r.xreadgroup(GROUP, "v1-worker", {K.broadcast_stream("tg"): ">"}, count=10)
        by_uid = {fields["u"]: (entry_id, fields) for entry_id, fields in entries[0][1]}
        bob_entry, carol_entry = by_uid[BOB], by_uid[CAROL]
        await runner._finish("tg", bob_entry[0], BOB, bob_entry[1]["d"], "retry", 1, delay_s=60, reason="test")
        await runner._finish("tg", carol_entry[0], CAROL, carol_entry[1]["d"], "dead", 1, reason="test")

        # later that morning: check-ins
        clock.set(T0 + 86400)
        await say(core, ALICE, "/daily")
        await say(core, BOB, "/daily")

        # in flight: a paid answer already delivered whose capture did not happen (Redis blip),
        # a hold whose process crashed before its job, a reading whose platform is not served
        sent_hold = await core.ledger.hold(ALICE, 1, "notice", "t-sent")
        await core.outbox.enqueue("job-sent", "notice", ALICE, lang="ko", reply=Reply("전달된 답변"),
                                  hold=sent_hold, kick=False)
        capture = core.ledger.capture

        async def blip(*_: Any, **__: Any) -> str:
            raise ServiceUnavailable()

        core.ledger.capture = blip  # type: ignore[method-assign]
        try:
            await core.outbox.run_once("job-sent")
        except ServiceUnavailable:
            pass
        core.ledger.capture = capture  # type: ignore[method-assign]
        assert await core.outbox.state("job-sent") == "sent"
        facts["holds"][sent_hold.hold_id] = {"uid": ALICE, "amount": 1, "action": "capture"}
        orphan = await core.ledger.hold(ALICE, 1, "ai chat", "t-orphan")
        facts["holds"][orphan.hold_id] = {"uid": ALICE, "amount": 1, "action": "release"}
        core.senders.pop("tg")
        await say(core, BOB, "/reading fortune")
        await asyncio.sleep(0.3)  # the kicked job finds no sender here and stays due
        [(job_key, job)] = [(k, await r.hgetall(k)) for k in await r.keys("outbox:job:ai-*")
                            if (await r.hget(k, "uid")) == BOB]
        assert job["state"] == "new" and job["hold"], job
        facts["holds"][job["hold"]] = {"uid": BOB, "amount": int(job["hold_amount"]), "action": "release"}
        facts["inflight_job"] = job_key.removeprefix("outbox:job:")

        # read back with the v1 code
        facts["accounts"] = {}
        for account in sorted(await r.smembers(K.accounts_index())):
            rec = await core.ledger.reconcile(account)
            assert rec.ok, rec
            facts["accounts"][account] = {"balance": rec.balance, "held": rec.held, "entries": rec.entries}
        for uid in (ALICE, BOB, CAROL):
            profile = await core.profiles.get(uid)
            assert profile is not None
            facts.setdefault("profiles", {})[uid] = {
                "birth": profile.birth.isoformat() if profile.birth else None, "birth_time": profile.birth_time,
                "tz": profile.tz, "lang": profile.lang, "step": profile.step}
            facts.setdefault("streaks", {})[uid] = await r.hgetall(K.streak(uid))
        facts["subs"] = await r.hgetall(K.broadcast_subs())
        facts["marks"] = await r.hgetall(K.broadcast_marks())
        facts["due"] = dict(await r.zrange(K.broadcast_due(), 0, -1, withscores=True))
        facts["pairs"] = {uid: dict(await r.zrange(K.pairs_of(uid), 0, -1, withscores=True)) for uid in (ALICE, BOB)}
        for charge in ("ch-alice-1", "ch-carol-1", "ch-dave-1"):
            facts["payments"][charge] = await r.hgetall(K.payment(charge))
        facts["leaderboard"] = dict(await r.zrange(K.leaderboard_all(), 0, -1, withscores=True))
        facts["invites"] = {k.removeprefix("invite:"): await r.hgetall(k) for k in await r.keys("invite:*")
                            if k.count(":") == 1}
        facts["balances"] = {uid: await core.ledger.balance(uid) for uid in (ALICE, BOB, CAROL, DAVE)}
        await core.store.close()
    return facts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4])), ensure_ascii=False))
