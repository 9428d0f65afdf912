"""/delete through the router: the anonymous ledger and the keys left behind carry no trace of
the platform id (payment idempotency records excepted, until opaque account ids)."""

from __future__ import annotations

from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import onboard
from tests.support.platform import RecordingPlatform

UID = "tg:4242002"


def ev(text: str) -> Event:
    return Event("tg", "4242002", text, chat_id="4242002")


async def test_after_delete_no_key_and_no_ledger_row_names_the_user(core: Core) -> None:
    RecordingPlatform.install(core)
    await onboard(core, UID)
    await core.ledger.grant(UID, 5, "test", "g1")
    await core.ledger.spend(UID, 1, "test", "sp")
    await core.router.handle(ev("/fortune details"))  # hold -> outbox -> capture
    assert await core.outbox.drain(5)
    await core.router.handle(ev("/delete"))
    assert (await core.router.handle(ev("/delete confirm")))[0].error is None
    r = core.store.redis
    leftovers = [k async for k in r.scan_iter(match="*4242002*") if not K.kept_on_erasure(k)]
    assert leftovers == []
    anon = [k async for k in r.scan_iter(match="ledger:anon:*")]
    assert anon, "the ledger is kept, anonymised"
    for key in anon:
        if await r.type(key) == "list":
            assert not any("4242002" in row for row in await r.lrange(key, 0, -1))
