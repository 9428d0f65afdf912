"""Accounts: the welcome marker is implied by the identity mapping and written only when the
mapping is about to stop naming the account that holds the bonus."""

from __future__ import annotations

import pytest

from bot.core.erasure import erase_account
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import onboard

pytestmark = pytest.mark.both_backends


def marker(core: Core, identity: str) -> str:
    return K.welcome_marker(core.ledger.person_marker(identity))


async def test_an_ordinary_user_keeps_no_welcome_key_and_delete_writes_it(core: Core) -> None:
    profile = await onboard(core, "tg:41")  # with its welcome bonus
    bonus = core.settings.product.credits.welcome_bonus
    assert await core.ledger.balance(profile.uid) == bonus
    r = core.store.redis
    assert not await r.exists(marker(core, "tg:41"))  # implied by ident -> account
    assert await core.ledger.welcome_bonus(profile.uid, "tg:41") is None  # a replay gives nothing
    await erase_account(core, profile.uid)
    assert await r.get(marker(core, "tg:41")) == profile.uid  # outlives the mapping
    again = await core.accounts.resolve("tg:41")
    assert again != profile.uid
    assert await core.ledger.welcome_bonus(again, "tg:41") is None
    assert await core.ledger.balance(again) == 0


async def test_a_person_erased_before_the_bonus_can_still_receive_it(core: Core) -> None:
    first = await core.accounts.resolve("tg:42")
    await erase_account(core, first)  # never onboarded: no bonus was given
    assert not await core.store.redis.exists(marker(core, "tg:42"))
    again = await core.accounts.resolve("tg:42")
    assert await core.ledger.welcome_bonus(again, "tg:42") is not None


async def test_markers_written_before_are_read_as_they_are(core: Core) -> None:
    """Data from before: one explicit marker per person. One naming another account refuses the
    bonus though the identity maps here; one naming this account grants it (a crash between the
    old claim and the grant)."""
    r = core.store.redis
    aid = await core.accounts.resolve("tg:43")
    await r.set(marker(core, "tg:43"), "a00000000000000ff")
    assert await core.ledger.welcome_bonus(aid, "tg:43") is None
    aid2 = await core.accounts.resolve("tg:44")
    await r.set(marker(core, "tg:44"), aid2)
    assert await core.ledger.welcome_bonus(aid2, "tg:44") is not None
    assert await r.get(marker(core, "tg:44")) == aid2


async def test_an_account_not_mapped_from_the_identity_claims_with_an_explicit_marker(core: Core) -> None:
    aid = await core.accounts.resolve("tg:45")
    assert await core.ledger.welcome_bonus("a00000000000000ee", "tg:45") is not None
    assert await core.store.redis.get(marker(core, "tg:45")) == "a00000000000000ee"
    assert await core.ledger.welcome_bonus(aid, "tg:45") is None  # the person already had it
