"""/delete through the router: no key names the platform id afterwards, and the ledger stays,
anonymous, under the opaque account id (tests/core/test_erasure.py scans every value too)."""

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
    aid = (await onboard(core, UID)).uid
    await core.ledger.grant(aid, 5, "test", "g1")
    await core.ledger.spend(aid, 1, "test", "sp")
    await core.router.handle(ev("/fortune details"))  # hold -> outbox -> capture
    assert await core.outbox.drain(5)
    await core.router.handle(ev("/delete"))
    assert (await core.router.handle(ev("/delete confirm")))[0].error is None
    r = core.store.redis
    assert [k async for k in r.scan_iter(match="*4242002*")] == []
    rows = await r.lrange(K.ledger(aid), 0, -1)
    assert len(rows) >= 3, "the ledger is kept, under the account id nothing maps to any more"
    assert not any("4242002" in row for row in rows)
    assert await core.accounts.lookup(UID) is None and (await core.ledger.reconcile(aid)).ok
