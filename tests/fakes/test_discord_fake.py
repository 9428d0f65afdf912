"""The fake Discord (tests/fakes/discord_api.py) driven by the real discord.py 2.x.

Each test points discord.py at the fake the way the adapter will with DISCORD_API_BASE_URL and
DISCORD_GATEWAY_URL (``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``), runs real
clients over real sockets and checks what reached Discord's side of the wire.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from tests.fakes.discord_api import FakeDiscord, FakeGuild
from tests.fakes.discord_payloads import shard_for

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def discord_urls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Apply a fake's URLs exactly as the adapter applies its two settings (restored afterwards)."""
    def apply(api_base_url: str, gateway_url: str) -> None:
        monkeypatch.setattr(discord.http.Route, "BASE", api_base_url.rstrip("/"))
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(gateway_url))
    yield apply


@pytest.fixture
async def fake(discord_urls: Any) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        discord_urls(server.api_url, server.gateway_url)
        yield server


class Bot(discord.Client):
    """A discord.Client with a command tree; ``on_ready`` sets ``ready``."""

    def __init__(self, *, intents: discord.Intents | None = None, **options: Any) -> None:
        super().__init__(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05, **options)
        self.tree = app_commands.CommandTree(self)
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()
        self.seen: list[discord.Interaction] = []
        self.messages: list[discord.Message] = []

    async def on_ready(self) -> None:
        self.ready.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py sleeps 5 s before a non-initial IDENTIFY; tests need not

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)


class ShardedBot(discord.AutoShardedClient):
    def __init__(self, shard_ids: list[int] | None, shard_count: int | None) -> None:
        options: dict[str, Any] = {"shard_ids": shard_ids} if shard_ids is not None else {}
        super().__init__(intents=discord.Intents.default(), shard_count=shard_count, guild_ready_timeout=0.05,
                         **options)
        self.tree = app_commands.CommandTree(self)
        self.ready = asyncio.Event()
        self.seen: list[discord.Interaction] = []

        @self.tree.command(name="fortune", description="Today's fortune")
        async def fortune(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"shards {shard_ids}")

    async def on_ready(self) -> None:
        self.ready.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py waits 5 s between the IDENTIFYs of a process's shards

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(interaction)


@asynccontextmanager
async def running(client: Bot | ShardedBot, fake: FakeDiscord) -> AsyncIterator[Any]:
    """Start ``client`` against the fake, wait for on_ready, close it cleanly afterwards."""
    task = asyncio.create_task(client.start(fake.token))
    ready = asyncio.create_task(client.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        await client.close()
        if task in done:
            task.result()  # raises the start error
        raise TimeoutError("discord.py client did not become ready")
    try:
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


def user_of(fake: FakeDiscord) -> int:
    return fake.user().id


# --- connecting ---------------------------------------------------------------------------------

async def test_connects_through_the_two_urls_and_gets_ready(fake: FakeDiscord) -> None:
    guild = fake.add_guild("소울 랩 테스트")
    client = Bot()
    async with running(client, fake):
        assert client.user is not None and client.user.id == fake.bot_id and client.user.bot
        assert client.application_id == fake.app_id  # from GET /oauth2/applications/@me at login
        assert [g.id for g in client.guilds] == [guild.id]
        assert client.get_channel(guild.channel_id) is not None
        [session] = await fake.wait_sessions(1)
        assert session.shard == (0, 1) and "shard" not in session.identify  # a plain Client sends no shard
        assert session.intents == discord.Intents.default().value
        conn = session.conn
        assert conn is not None and conn.path == "/gateway"
        assert conn.query["v"] == "10" and conn.query["encoding"] == "json"
        await fake.wait_until(lambda: conn.heartbeats >= 1, what="the first heartbeat")  # sent right after HELLO
        # discord.py never asked /gateway/bot: a plain Client connects to DEFAULT_GATEWAY.
        assert fake.requests_to("GET", path="/gateway/bot") == []
        assert [r.route for r in fake.requests] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    assert not session.connected


async def test_auto_sharding_without_a_shard_count_asks_gateway_bot(discord_urls: Any) -> None:
    async with FakeDiscord(recommended_shards=2) as fake:
        # Only Route.BASE points at the fake; DEFAULT_GATEWAY leads nowhere: the URL comes from
        # GET /gateway/bot, which AutoShardedClient asks only when it has no shard_count.
        discord_urls(fake.api_url, "ws://127.0.0.1:9/nowhere")
        client = ShardedBot(None, None)
        async with running(client, fake):
            assert client.shard_count == 2
            assert sorted(s.shard for s in fake.live_sessions()) == [(0, 2), (1, 2)]
        assert len(fake.requests_to("GET", path="/gateway/bot")) == 1


async def test_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = Bot()
    with pytest.raises(discord.LoginFailure):
        await client.start("not-the-token")
    await client.close()
    assert fake.requests[0].status == 401 and fake.sessions == []


async def test_privileged_intents_not_enabled_close_the_gateway_with_4014(fake: FakeDiscord) -> None:
    client = Bot(intents=discord.Intents.default() | discord.Intents(message_content=True))
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(fake.token), 10)
    await client.close()
    assert fake.sessions == [] and fake.gateway.connections[0].refused_with == 4014


# --- application commands --------------------------------------------------------------------------

class LongKoreanTranslator(app_commands.Translator):
    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContext[Any, Any]) -> str | None:
        if locale is discord.Locale.korean and context.location is app_commands.TranslationContextLocation.command_description:
            return "운세" * 60  # 120 characters: over Discord's 100
        return None


async def test_tree_sync_global_and_guild_is_recorded_and_checked(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    client = Bot()

    @client.tree.command(name="fortune", description=app_commands.locale_str("Today's fortune"))
    @app_commands.describe(question="What you want to ask")
    async def fortune(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.send_message(question)

    @client.tree.command(name="tarot", description="Draw tarot cards")
    @app_commands.choices(spread=[app_commands.Choice(name="one", value="one"),
                                  app_commands.Choice(name="three", value="three")])
    async def tarot(interaction: discord.Interaction, spread: str = "one") -> None:
        await interaction.response.send_message(spread)

    async with running(client, fake):
        synced = await client.tree.sync()
        assert sorted(c.name for c in synced) == ["fortune", "tarot"]
        [sync] = fake.command_syncs()
        assert sync.guild_id is None and sorted(sync.names) == ["fortune", "tarot"]
        tarot_cmd = next(c for c in sync.commands if c["name"] == "tarot")
        assert [ch["value"] for ch in tarot_cmd["options"][0]["choices"]] == ["one", "three"]
        fetched = await client.tree.fetch_commands()
        assert {c.id for c in fetched} == {c.id for c in synced}

        again = await client.tree.sync()  # same names keep their ids, like Discord
        assert {c.name: c.id for c in again} == {c.name: c.id for c in synced}

        client.tree.copy_global_to(guild=discord.Object(guild.id))
        await client.tree.sync(guild=discord.Object(guild.id))
        assert [s.guild_id for s in fake.command_syncs()] == [None, None, guild.id]
        assert len(fake.command_syncs(guild_id=guild.id)) == 1

        with pytest.raises(discord.Forbidden) as missing:  # a guild the bot is not in
            await client.tree.sync(guild=discord.Object(424242))
        assert missing.value.code == 50001

        await client.tree.set_translator(LongKoreanTranslator())
        with pytest.raises(discord.HTTPException) as invalid:
            await client.tree.sync()
        assert invalid.value.status == 400 and invalid.value.code == 50035
        assert "100 or fewer" in invalid.value.text
        assert len(fake.command_syncs(guild_id=None)) == 2  # the refused overwrite changed nothing


# --- interactions ----------------------------------------------------------------------------------

async def test_slash_command_defer_then_ephemeral_followup(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    client = Bot()
    calls: list[tuple[str, str, discord.Locale, int | None]] = []

    @client.tree.command(name="tarot", description="Draw tarot cards")
    async def tarot(interaction: discord.Interaction, spread: str, question: str = "") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        calls.append((spread, question, interaction.locale, interaction.guild_id))
        await interaction.followup.send("카드를 펼쳤어요", ephemeral=True, file=discord.File(io.BytesIO(b"\x89PNG fake"), "spread.png"))
        await interaction.followup.send("하나 더", ephemeral=True)

    async with running(client, fake):
        await client.tree.sync()
        payload = fake.slash_command("tarot", {"spread": "three", "question": "올해 연애운?"},
                                     user_id=user_of(fake), guild=guild, locale="ko")
        inter = await fake.interact(payload)
        messages = await fake.wait_messages(inter.id, 2)

    assert calls == [("three", "올해 연애운?", discord.Locale.korean, guild.id)]
    [callback] = fake.interaction_responses(inter.id)
    assert callback.status == 200 and callback.query["with_response"] == "1"
    assert callback.body == {"type": 5, "data": {"flags": 64}}
    first, second = fake.followup_requests(inter.id)
    assert first.route == "POST /webhooks/{application_id}/{interaction_token}"
    assert first.body["flags"] & 64 and first.body["content"] == "카드를 펼쳤어요"
    assert [f.filename for f in first.files] == ["spread.png"] and first.files[0].data == b"\x89PNG fake"
    assert [m["content"] for m in messages] == ["카드를 펼쳤어요", "하나 더"]
    assert all(m["flags"] & 64 for m in messages)
    assert inter.original is not None and messages[0]["id"] == inter.original["id"]  # the first follow-up replaced the loading message
    assert messages[0]["attachments"][0]["filename"] == "spread.png"


async def test_first_followup_after_a_public_defer_stays_public(fake: FakeDiscord) -> None:
    client = Bot()

    @client.tree.command(name="fortune", description="Today's fortune")
    async def fortune(interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # public
        await interaction.followup.send("first", ephemeral=True)  # Discord ignores this flag here
        await interaction.followup.send("second", ephemeral=True)

    async with running(client, fake):
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))  # in the bot's DM
        first, second = await fake.wait_messages(inter.id, 2)
    assert not first["flags"] & 64 and second["flags"] & 64
    assert "guild_id" not in inter.payload and inter.payload["channel"]["type"] == 1


async def test_a_second_answer_to_one_interaction(fake: FakeDiscord) -> None:
    client = Bot()
    outcome: list[str] = []

    @client.tree.command(name="fortune", description="Today's fortune")
    async def fortune(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("오늘의 운세")
        try:
            await interaction.response.defer()
        except discord.InteractionResponded:
            outcome.append("responded")

    async with running(client, fake):
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))
        await fake.wait_until(lambda: outcome, what="the second answer")
    assert outcome == ["responded"]  # refused by discord.py itself: no second request
    assert [r.body["type"] for r in fake.interaction_responses(inter.id)] == [4]
    assert [m["content"] for m in inter.messages] == ["오늘의 운세"]


async def test_two_processes_on_one_shard_answer_once_and_the_other_gets_40060(fake: FakeDiscord) -> None:
    outcomes: list[Any] = []

    def make() -> Bot:
        bot = Bot()

        @bot.tree.command(name="fortune", description="Today's fortune")
        async def fortune(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.defer()
                outcomes.append("ok")
            except discord.HTTPException as exc:
                outcomes.append((exc.status, exc.code, exc.text))
        return bot

    async with running(make(), fake), running(make(), fake):
        assert len(fake.live_sessions(0)) == 2  # both identified shard 0: Discord sends them both
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))
        await fake.wait_until(lambda: len(outcomes) == 2, what="both answers")
    assert inter.deliveries == 2
    assert sorted(outcomes, key=str) == sorted(["ok", (400, 40060, "Interaction has already been acknowledged.")],
                                               key=str)
    assert sorted(r.status for r in fake.interaction_responses(inter.id)) == [200, 400]


async def test_edits_and_deletes_through_the_interaction_webhook(fake: FakeDiscord) -> None:
    client = Bot()
    done = asyncio.Event()

    @client.tree.command(name="ask", description="Ask a question")
    async def ask(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await interaction.edit_original_response(content="생각 중이에요…")
        original = await interaction.original_response()
        assert original.content == "생각 중이에요…" and original.flags.ephemeral
        extra = await interaction.followup.send("덧붙임", wait=True)
        await extra.edit(content="덧붙임 (수정)")
        gone = await interaction.followup.send("지울 메시지", wait=True)
        await gone.delete()
        await interaction.edit_original_response(content="답이 왔어요")
        done.set()

    async with running(client, fake):
        inter = await fake.interact(fake.slash_command("ask", user_id=user_of(fake)))
        await asyncio.wait_for(done.wait(), 5)
    assert [(m["content"], bool(m["flags"] & 64)) for m in inter.messages] == [("답이 왔어요", True),
                                                                               ("덧붙임 (수정)", False)]
    assert inter.original is not None and inter.original["edited_timestamp"] is not None
    assert [r.route.split(" ")[0] for r in fake.followup_requests(inter.id)] == [
        "PATCH", "GET", "POST", "PATCH", "POST", "DELETE", "PATCH"]


async def test_discord_limits_and_unknown_routes_are_refused(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    client = Bot()
    async with running(client, fake):
        channel = client.get_channel(guild.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("가" * 2001)
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="x" * 81, custom_id="long"))
        with pytest.raises(discord.HTTPException) as long_label:
            await channel.send("ok", view=view)
        with pytest.raises(discord.NotFound):
            await client.fetch_guild(guild.id)  # a route the fake does not serve
    assert too_long.value.code == 50035 and "2000 or fewer" in too_long.value.text
    assert long_label.value.code == 50035 and "80 or fewer" in long_label.value.text
    assert fake.messages_to(guild.channel_id) == []
    assert [r.path for r in fake.unhandled] == [f"/guilds/{guild.id}"]


async def test_an_answer_after_the_ack_deadline_is_unknown(discord_urls: Any) -> None:
    async with FakeDiscord(ack_deadline=0.2) as fake:
        discord_urls(fake.api_url, fake.gateway_url)
        client = Bot()
        errors: list[discord.HTTPException] = []

        @client.tree.command(name="fortune", description="Today's fortune")
        async def fortune(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.defer()
            except discord.NotFound as exc:
                errors.append(exc)

        async with running(client, fake):
            inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))
            await fake.wait_until(lambda: errors, what="the late answer")
        assert errors[0].code == 10062 and not inter.acknowledged


async def test_expired_interaction_is_unknown(fake: FakeDiscord) -> None:
    client = Bot()
    gate = asyncio.Event()
    errors: list[discord.HTTPException] = []

    @client.tree.command(name="fortune", description="Today's fortune")
    async def fortune(interaction: discord.Interaction) -> None:
        await gate.wait()
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            errors.append(exc)

    async with running(client, fake):
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))
        fake.expire_interaction(inter.id)
        gate.set()
        await fake.wait_until(lambda: errors, what="the refused answer")
    assert errors[0].code == 10062 and errors[0].text == "Unknown interaction"


# --- messages outside interactions -----------------------------------------------------------------

async def test_dm_to_a_user_with_closed_dms_is_forbidden_50007(fake: FakeDiscord) -> None:
    open_user, closed_user = fake.user(locale="en-US"), fake.user()
    fake.close_dms(closed_user.id)
    client = Bot()
    async with running(client, fake):
        dm = await client.create_dm(discord.Object(open_user.id))
        await dm.send("오늘의 운세가 도착했어요")
        closed = await client.create_dm(discord.Object(closed_user.id))
        with pytest.raises(discord.Forbidden) as refused:
            await closed.send("오늘의 운세가 도착했어요")
    assert refused.value.code == 50007 and refused.value.text == "Cannot send messages to this user"
    assert [m["content"] for m in fake.dms_to(open_user.id)] == ["오늘의 운세가 도착했어요"]
    assert fake.dms_to(closed_user.id) == []
    assert dm.id == fake.dm_channel_id(open_user.id)


async def test_a_429_on_a_channel_message_is_retried_and_delivered_once(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    path = f"/channels/{guild.channel_id}/messages"
    fake.rate_limit_next("POST", path, retry_after=0.3)
    client = Bot()
    async with running(client, fake):
        channel = client.get_channel(guild.channel_id)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        sent = await channel.send("오늘의 운세")
        waited = time.monotonic() - started
    attempts = fake.requests_to("POST", path=path)
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[0].response == {"message": "You are being rate limited.", "retry_after": 0.3, "global": False}
    assert waited >= 0.3 and attempts[1].at - attempts[0].at >= 0.3
    assert [m["content"] for m in fake.messages_to(guild.channel_id)] == ["오늘의 운세"]
    assert sent.id == int(fake.messages_to(guild.channel_id)[0]["id"])


async def test_rate_limit_headers_pace_discord_py_without_a_429(discord_urls: Any) -> None:
    async with FakeDiscord(bucket_limits={"POST /channels/{channel_id}/messages": (2, 0.4)}) as fake:
        discord_urls(fake.api_url, fake.gateway_url)
        guild = fake.add_guild()
        client = Bot()
        async with running(client, fake):
            channel = client.get_channel(guild.channel_id)
            assert isinstance(channel, discord.TextChannel)
            started = time.monotonic()
            for i in range(5):
                await channel.send(f"message {i}")
            elapsed = time.monotonic() - started
        assert fake.bucket_violations == 0
        assert [m["content"] for m in fake.messages_to(guild.channel_id)] == [f"message {i}" for i in range(5)]
        assert elapsed >= 0.8  # 5 messages at 2 per 0.4 s: two full windows waited


async def test_dm_text_reaches_the_bot_and_guild_text_needs_the_content_intent(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    someone = fake.user()
    client = Bot()
    async with running(client, fake):
        [s] = await fake.dispatch("MESSAGE_CREATE", fake.dm_message(someone.id, "1990-05-17"))
        await fake.dispatch("MESSAGE_CREATE", fake.guild_message(guild, someone.id, "hello"))
        await fake.dispatch("MESSAGE_CREATE", fake.guild_message(guild, someone.id, "운세", mention_bot=True))
        await fake.wait_until(lambda: len(client.messages) == 3, what="three messages")
    dm, plain, mention = client.messages
    assert isinstance(dm.channel, discord.DMChannel) and dm.content == "1990-05-17" and dm.author.id == someone.id
    assert plain.guild is not None and plain.content == ""  # no MESSAGE_CONTENT intent
    assert mention.content.endswith("운세")


# --- components and modals -------------------------------------------------------------------------

class FortuneView(discord.ui.View):
    """A persistent view: fixed custom_id, no timeout."""

    def __init__(self, pressed: list[str]) -> None:
        super().__init__(timeout=None)
        self.pressed = pressed

    @discord.ui.button(label="자세히 보기", custom_id="fortune:details", style=discord.ButtonStyle.primary)
    async def details(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.pressed.append(f"details by {interaction.user.id}")
        await interaction.response.edit_message(content="자세한 운세", view=None)


class SpreadButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"tarot:(?P<spread>[a-z]+)"):
    pressed: list[str] = []

    def __init__(self, spread: str) -> None:
        super().__init__(discord.ui.Button(label=spread, custom_id=f"tarot:{spread}"))
        self.spread = spread

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> SpreadButton:
        return cls(match["spread"])

    async def callback(self, interaction: discord.Interaction) -> None:
        self.pressed.append(self.spread)
        await interaction.response.send_message(f"{self.spread} 카드", ephemeral=True)


async def test_persistent_view_and_dynamic_item_are_routed_by_custom_id(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    before = Bot()  # the process that sent the message
    async with running(before, fake):
        channel = before.get_channel(guild.channel_id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("오늘의 운세", view=FortuneView([]))
    [sent] = fake.messages_to(guild.channel_id)
    assert sent["components"][0]["components"][0]["custom_id"] == "fortune:details"

    pressed: list[str] = []
    SpreadButton.pressed = []
    after = Bot()  # restarted: registers its persistent view and dynamic items once
    async with running(after, fake):
        after.add_view(FortuneView(pressed))
        after.add_dynamic_items(SpreadButton)
        presser = user_of(fake)
        press = await fake.interact(fake.component("fortune:details", user_id=presser, guild=guild, message=sent))
        tarot = await fake.interact(fake.component("tarot:three", user_id=presser, guild=guild))
        await fake.wait_response(press.id)
        await fake.wait_response(tarot.id)
        stray = await fake.interact(fake.component("nobody:listens", user_id=presser, guild=guild))
        await asyncio.sleep(0.1)
    assert pressed == [f"details by {presser}"] and SpreadButton.pressed == ["three"]
    assert press.response == {"type": 7, "data": {"content": "자세한 운세", "tts": False, "components": []}}
    assert press.original is not None and press.original["id"] == sent["id"]
    assert press.original["content"] == "자세한 운세" and press.original["components"] == []
    assert fake.messages_to(guild.channel_id) == [press.original]  # the button's message was updated
    assert tarot.response == {"type": 4, "data": {"content": "three 카드", "tts": False, "flags": 64}}
    assert not stray.acknowledged


class BirthModal(discord.ui.Modal, title="생년월일 입력"):
    birth_date: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="생년월일 (YYYY-MM-DD)", custom_id="birth_date", min_length=10, max_length=10)
    birth_time: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="태어난 시각 (HH:MM)", custom_id="birth_time", required=False, max_length=5)

    def __init__(self, got: list[tuple[str, str, int]]) -> None:
        super().__init__()
        self.got = got

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.got.append((self.birth_date.value, self.birth_time.value, interaction.user.id))
        await interaction.response.send_message("저장했어요", ephemeral=True)


async def test_modal_opened_then_submitted(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    got: list[tuple[str, str, int]] = []
    client = Bot()

    @client.tree.command(name="start", description="Start")
    async def start(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(BirthModal(got))

    async with running(client, fake):
        user = user_of(fake)
        opened = await fake.wait_response((await fake.interact(
            fake.slash_command("start", user_id=user, guild=guild))).id)
        modal = opened.modal
        assert opened.response_type == 9 and modal is not None
        assert modal["title"] == "생년월일 입력" and len(modal["custom_id"]) <= 100
        with pytest.raises(ValueError):  # Discord's client would not submit a 6-character date here
            fake.modal_submit_for(opened.id, {"birth_date": "900517"})
        submit = await fake.interact(fake.modal_submit_for(opened.id, {"birth_date": "1990-05-17"}))
        await fake.wait_response(submit.id)
    assert got == [("1990-05-17", "", user)]
    assert submit.type == 5 and submit.payload["data"]["custom_id"] == modal["custom_id"]
    assert submit.response == {"type": 4, "data": {"content": "저장했어요", "tts": False, "flags": 64}}


# --- shards and reconnects -------------------------------------------------------------------------

async def test_two_sharded_processes_each_get_only_their_guilds(fake: FakeDiscord) -> None:
    g0: FakeGuild = fake.add_guild("shard zero", on_shard=(0, 2))
    g1: FakeGuild = fake.add_guild("shard one", on_shard=(1, 2))
    assert (shard_for(g0.id, 2), shard_for(g1.id, 2)) == (0, 1)
    zero, one = ShardedBot([0], 2), ShardedBot([1], 2)
    async with running(zero, fake), running(one, fake):
        assert sorted(s.shard for s in fake.live_sessions()) == [(0, 2), (1, 2)]
        assert [g.id for g in zero.guilds] == [g0.id] and [g.id for g in one.guilds] == [g1.id]
        user = user_of(fake)
        in_g0 = await fake.interact(fake.slash_command("fortune", user_id=user, guild=g0))
        in_g1 = await fake.interact(fake.slash_command("fortune", user_id=user, guild=g1))
        in_dm = await fake.interact(fake.slash_command("fortune", user_id=user))
        for inter in (in_g0, in_g1, in_dm):
            await fake.wait_response(inter.id)
        await asyncio.sleep(0.05)
    assert [i.id for i in zero.seen] == [in_g0.id, in_dm.id] and [i.id for i in one.seen] == [in_g1.id]
    assert zero.seen[0].guild_id == g0.id and one.seen[0].guild_id == g1.id
    assert [m["content"] for i in (in_g0, in_g1, in_dm) for m in i.messages] == ["shards [0]", "shards [1]",
                                                                                 "shards [0]"]
    assert all(len(fake.interaction_responses(i.id)) == 1 for i in (in_g0, in_g1, in_dm))


async def test_reconnect_resumes_and_replays_missed_events(fake: FakeDiscord) -> None:
    client = Bot()

    @client.tree.command(name="fortune", description="Today's fortune")
    async def fortune(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("다시 연결됐어요")

    async with running(client, fake):
        [session] = await fake.wait_sessions(1)
        await fake.disconnect(code=4000)  # the socket drops; the session stays resumable
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))  # sent while away
        await asyncio.wait_for(client.resumed.wait(), 10)
        await fake.wait_response(inter.id)
        assert session.resumes == 1 and session.conn is not None and session.conn.path == "/gateway-resume"
        await fake.request_reconnect()  # op 7 RECONNECT: discord.py resumes again
        await fake.wait_until(lambda: session.resumes == 2 and session.connected, what="the second resume")
    assert [m["content"] for m in inter.messages] == ["다시 연결됐어요"]
    assert len(fake.sessions) == 1  # resumed, never identified again



async def test_invalid_session_makes_the_client_identify_again(fake: FakeDiscord) -> None:
    client = Bot()

    @client.tree.command(name="fortune", description="Today's fortune")
    async def fortune(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("새 세션")

    async with running(client, fake):
        [first] = await fake.wait_sessions(1)
        client.ready.clear()
        await fake.invalidate_session()
        await asyncio.wait_for(client.ready.wait(), 10)  # a new READY after a new IDENTIFY
        [second] = await fake.wait_sessions(1)
        inter = await fake.interact(fake.slash_command("fortune", user_id=user_of(fake)))
        await fake.wait_response(inter.id)
    assert first.ended and second is not first and second.resumes == 0
    assert [i.id for i in client.seen] == [inter.id] and [m["content"] for m in inter.messages] == ["새 세션"]


async def test_the_fake_in_its_own_process_is_driven_over_http(discord_urls: Any) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.fakes.discord_server", "1",
                                                cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        discord_urls(info["api_url"], info["gateway_url"])
        control = info["api_url"].removesuffix("/api/v10") + "/_control"
        client = Bot()

        @client.tree.command(name="fortune", description="Today's fortune")
        async def fortune(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("원격 운세")

        task = asyncio.create_task(client.start(info["token"]))
        try:
            await asyncio.wait_for(client.ready.wait(), 10)
            async with aiohttp.ClientSession() as http:
                build = {"build": "slash_command", "args": {"name": "fortune", "user_id": 42,
                                                             "guild": int(info["guilds"][0]["id"])}}
                async with http.post(f"{control}/dispatch", json=build) as r:
                    sent = await r.json()
                assert sent["delivered"] == 1
                iid = sent["payload"]["id"]
                for _ in range(200):
                    async with http.get(f"{control}/requests", params={"since": 0}) as r:
                        seen = (await r.json())["requests"]
                    answers = [q for q in seen if q["params"].get("interaction_id") == iid]
                    if answers:
                        break
                    await asyncio.sleep(0.02)
        finally:
            await client.close()
            await asyncio.wait_for(task, 10)
        assert [(a["status"], a["body"]["type"], a["body"]["data"]["content"]) for a in answers] == [
            (200, 4, "원격 운세")]
    finally:
        proc.terminate()
        await proc.wait()
