"""Slash commands from the router's specs: payload, translations, lengths, sync only on change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.core.features.content_cmd import TAROT_SPREADS, tarot_engine
from bot.core.i18n import LANGS, t
from bot.core.reply import Modal
from bot.core.service import Core
from bot.handlers.discord.commands import (MAX_DESCRIPTION, build_tree, check_lengths, command_text,
                                           translated_payload)
from bot.handlers.discord.render import MAX_INPUT_LABEL, MAX_MODAL_TITLE
from tests.fakes.discord_api import FakeDiscord
from tests.handlers.discord.conftest import dc_core, running

pytestmark = pytest.mark.both_backends


async def nothing(interaction: Any, text: str) -> None:
    return None


def test_every_description_option_and_choice_fits_discords_100_characters(core: Core) -> None:
    assert check_lengths(core.router) == []
    specs = core.router.menu_entries()
    assert {"fortune", "tarot", "ask", "subscribe", "join", "language", "start", "help"} <= {s.name for s in specs}
    assert all(s.name == s.name.lower() and s.name.isascii() and len(s.name) <= 32 for s in specs)


def test_form_labels_fit_discords_modal_limits(core: Core) -> None:
    from bot.core.features.onboarding import birth_form

    for lang in LANGS:
        form = birth_form(lang)
        assert isinstance(form, Modal) and len(form.title) <= MAX_MODAL_TITLE
        assert all(len(f.label) <= MAX_INPUT_LABEL for f in form.fields)
        assert len("sl:" + form.command) <= 100 and len("sl:" + form.open_command) <= 100


def test_the_slash_spreads_are_the_engines() -> None:
    assert tuple(tarot_engine().spreads) == TAROT_SPREADS


def test_options_become_the_typed_command(core: Core) -> None:
    tarot = core.router.commands["tarot"]
    assert command_text(tarot, {"spread": "three", "question": "올해  연애운?"}) == "/tarot three 올해 연애운?"
    assert command_text(tarot, {"question": "Will it rain"}) == "/tarot three Will it rain"
    assert command_text(tarot, {}) == "/tarot"
    assert command_text(core.router.commands["subscribe"], {"time": "08:00"}) == "/subscribe 08:00"
    reading = core.router.commands["reading"]
    assert command_text(reading, {"kind": "pair", "partner": "a1b2"}) == "/reading pair a1b2"


async def test_payload_is_english_with_korean_translations_and_choices(core: Core) -> None:
    client = discord.Client(intents=discord.Intents.default())
    tree = build_tree(client, core.router, nothing)
    payload = {c["name"]: c for c in await translated_payload(tree, core.router)}
    fortune = payload["fortune"]
    assert fortune["description"] == t("en", "cmd.fortune")
    assert fortune["description_localizations"]["ko"] == t("ko", "cmd.fortune")
    tarot = {o["name"]: o for o in payload["tarot"]["options"]}
    assert [c["value"] for c in tarot["spread"]["choices"]] == list(TAROT_SPREADS)
    assert tarot["spread"]["choices"][1]["name_localizations"]["ko"] == t("ko", "tarot.spread_button.three")
    assert tarot["question"]["max_length"] == 300 and not tarot["spread"]["required"]
    ask = payload["ask"]["options"][0]
    assert ask["name"] == "question" and ask["required"] and ask["description_localizations"]["ko"]
    assert [c["value"] for c in payload["language"]["options"][0]["choices"]] == ["ko", "en"]
    assert "setup" not in payload  # internal (buttons only)
    for cmd in payload.values():
        texts = [cmd["description"], *cmd.get("description_localizations", {}).values()]
        for opt in cmd.get("options", []):
            texts += [opt["description"], *opt.get("description_localizations", {}).values()]
        assert all(0 < len(x) <= MAX_DESCRIPTION for x in texts), cmd["name"]


async def test_commands_sync_once_and_a_restart_with_the_same_commands_does_not_sync(
        redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    core = dc_core(redis_url, tmp_path, fake)
    try:
        async with running(core):
            pass
        [first] = fake.command_syncs()
        assert first.guild_id is None and "fortune" in first.names
        async with running(core) as adapter:  # restart, same commands: no sync
            adapter.ready.clear()
            await fake.invalidate_session()  # a new IDENTIFY and READY: on_ready again, still no sync
            await asyncio.wait_for(adapter.ready.wait(), 10)
        assert len(fake.command_syncs()) == 1
    finally:
        await core.store.close()


async def test_a_changed_command_is_synced_again_and_dev_guild_syncs_there(
        redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    core = dc_core(redis_url, tmp_path, fake)
    dev = dc_core(redis_url, tmp_path, fake, DISCORD_DEV_GUILD_ID=str(guild.id))
    try:
        async with running(core):
            pass

        @core.router.command("newthing", needs_profile=False, description_key="cmd.help")
        async def newthing(ctx: Any) -> Any:
            raise AssertionError("never called")

        async with running(core):
            pass
        assert len(fake.command_syncs(guild_id=None)) == 2 and "newthing" in fake.command_syncs()[-1].names
        async with running(dev):
            pass
        [dev_sync] = fake.command_syncs(guild_id=guild.id)
        assert "fortune" in dev_sync.names and len(fake.command_syncs(guild_id=None)) == 2
    finally:
        await core.store.close()
        await dev.store.close()


async def test_discord_sync_command_forces_a_sync(redis_url: str, tmp_path: Path, fake: FakeDiscord,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.handlers.discord import cli
    from tests.handlers.discord.conftest import dc_env
    from tests.support.factory import test_settings

    settings = test_settings(redis_url, tmp_path, **dc_env(fake))
    core = dc_core(redis_url, tmp_path, fake)

    async def build_core(_: Any) -> Core:
        return core

    monkeypatch.setattr("bot.app.build_core", build_core)
    try:
        assert await cli._sync(settings) == 0
        assert await cli._sync(settings) == 0  # forced: synced although unchanged
    finally:
        await core.store.close()
    assert len(fake.command_syncs(guild_id=None)) == 2
