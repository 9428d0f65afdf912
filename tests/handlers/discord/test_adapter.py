"""The Discord adapter end to end: the real discord.py against the fake Discord, real Redis."""

from __future__ import annotations

import pytest

from tests.handlers.discord.conftest import DC
from tests.support.factory import onboard

pytestmark = pytest.mark.both_backends

EPHEMERAL = 64


async def test_fortune_is_deferred_then_answered_ephemerally_in_a_guild(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter = await dc.slash("fortune", user=user, guild=True)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert inter.response_type == 5 and inter.response == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert msg["flags"] & EPHEMERAL and msg["content"]
    labels = [c["label"] for row in msg["components"] for c in row["components"]]
    ids = [c["custom_id"] for row in msg["components"] for c in row["components"]]
    assert "sl:/fortune details" in ids and len(labels) == 3


async def test_fortune_in_dm_is_a_normal_message(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter = await dc.slash("fortune", user=user)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert inter.response == {"type": 5, "data": {}} or inter.response == {"type": 5}
    assert not msg["flags"] & EPHEMERAL
