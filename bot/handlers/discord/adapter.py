"""The Discord adapter: discord.py 2.x in, core ``Event``s through the router, ``Reply``s out.

It only translates; product rules live in the core. What it does:

* **Interactions** (slash commands, button presses, modal submits) become the text of the
  command they stand for. Before anything touches Redis or the AI, the first await answers
  Discord (3 s deadline): a command whose answer is a form (``CommandSpec.modal_for``, pure)
  is answered with the modal itself (a modal must be the first response); everything else is
  *deferred* (``thinking``), ephemeral in a guild when the command is private
  (``CommandSpec.private``). Then the interaction — id, token, application id and the
  translated event — goes into the durable inbox (``bot/core/inbox.py``, platform ``dc``),
  keyed per user, so a user's requests run in order and another process finishes it if this
  one dies (tokens live 15 minutes; follow-ups go to the webhook endpoint with the token,
  which any process can call). The handler runs the router and sends the replies as
  follow-ups; a deferred interaction always gets one, also on errors (the localised error
  with its reference id), and an empty answer (the outbox delivers it) removes the loading
  message. The request id is ``dc-<interaction id>``, so a re-handled interaction replays its
  charges. ``10062`` (expired before the defer) and ``40060`` (answered elsewhere) are counted
  in ``soul_lab_interactions_total`` and logged, never raised.
* **Privacy**: in a guild, private replies are ephemeral; when a public command's answer turns
  out personal (e.g. onboarding), the public loading message becomes a short note and the
  content follows ephemerally. DMs are normal messages.
* **Paid answers asked in a guild** (``/ask``, ``/reading``, paid details: the outbox delivers
  them later) come back where they were asked, ephemerally: a privately deferred guild
  interaction carries ``Event.reply_to = "ix:<application id>:<issued ms>:<token>"``, the
  outbox sends the answer to that target, and the sender posts it as an ephemeral follow-up
  of the interaction — after the interaction's own first follow-up when both run in this
  process, so the "working on it" note never lands after the answer. Interaction tokens live
  15 minutes: past ``IX_TTL_SECONDS`` (or on 10015 / 404) the sender raises
  ``ReplyTargetGone`` and the outbox sends a DM instead; DMs closed -> not delivered, the
  hold is released (never charged) and a short note goes to the channel.
* **DM text** (MESSAGE_CREATE in a DM) is plain text for the router (onboarding answers, an
  open ``/ask``), through the same inbox; guild text is not read (no message-content intent).
* **Sender** ``dc`` (``core.send``/``notify``, the outbox, the daily broadcast): a user id is
  their DM channel, ``chat:<id>`` a channel; discord.py errors are mapped to
  ``bot.core.delivery`` (``errors.py``). A ``50007`` (DMs closed) is remembered for the
  account and the user is told the next time they use the bot (the broadcast unsubscribes
  them on the ``DeliveryBlocked``).
* **Start**: settings -> ``discord.http.Route.BASE`` / gateway URL; login (REST only); command
  sync when the payload changed (``commands.py``); shard leases (``shards.py``); inbox; the
  gateway for the shards this process owns. ``on_ready`` does nothing but log.

Redis down: an interaction is still deferred, then answered with the localised "service
unavailable" text (nothing was kept, nothing changed). Crash between the defer and the
inbox write: the user sees the loading message until it expires (at most once, never twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from bot.core.delivery import ReplyTargetGone
from bot.core.platforms import PlatformLink
from bot.core.errors import ErrorCode, ServiceUnavailable
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.inbox import Inbox, InboxEntry
from bot.core.logs import log_event
from bot.core.reply import Reply, modal_submit_text
from bot.core.router import Event
from bot.handlers.discord.commands import build_tree, sync_commands
from bot.handlers.discord.errors import (ALREADY_ACKNOWLEDGED, CLOSED_DMS, INVALID_WEBHOOK_TOKEN, UNKNOWN_INTERACTION,
                                         UNKNOWN_WEBHOOK, wrap_sender)
from bot.handlers.discord.render import (NO_MENTIONS, CommandButton, build_modal, command_of, messages_for,
                                         modal_values)
from bot.handlers.discord.shards import LEASE_SECONDS, ShardLeases

if TYPE_CHECKING:
    from discord import app_commands

    from bot.core.service import Core
    from bot.core.settings import Settings

__all__ = ["DiscordAdapter", "SoulLabClient", "apply_urls", "DM_CLOSED_SESSION"]

PLATFORM = "dc"
#: How long an interaction token is used for a later answer (Discord keeps it 15 minutes).
IX_TTL_SECONDS = 14 * 60
#: The longest an outbox answer waits for the interaction's own first follow-up (same process).
FIRST_FOLLOWUP_WAIT_SECONDS = 10.0
#: Session kind remembering that a DM to the account bounced with 50007 (told next time).
DM_CLOSED_SESSION = "dc_dm_closed"
DM_CLOSED_TTL = 30 * 86400


def apply_urls(settings: Settings) -> None:
    """Point discord.py at ``DISCORD_API_BASE_URL`` (REST, including ``/api/v10``) and, when
    set, ``DISCORD_GATEWAY_URL``. Class attributes: once per process."""
    discord.http.Route.BASE = settings.env.discord_api_base_url.rstrip("/")
    if settings.env.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.env.discord_gateway_url)


class SoulLabClient(discord.AutoShardedClient):
    """discord.py's client with the adapter's handlers; shards are set before ``connect``."""

    def __init__(self, adapter: DiscordAdapter, identify_delay: float | None = None, **options: Any) -> None:
        options.setdefault("max_messages", None)  # no message cache: we never read old messages
        super().__init__(intents=discord.Intents.default(), **options)
        self.adapter = adapter
        self.identify_delay = identify_delay
        self.tree: app_commands.CommandTree[Any] | None = None

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CommandButton)  # once: every sl:<command> button, any message

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.identify_delay is None:
            await super().before_identify_hook(shard_id, initial=initial)
        elif not initial and self.identify_delay > 0:
            await asyncio.sleep(self.identify_delay)

    async def on_ready(self) -> None:
        # Fires after every re-identify: nothing to do here (commands are synced at start).
        self.adapter.ready.set()
        log_event("discord_ready", shards=sorted(self.shards), guilds=len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await self.adapter.on_modal_submit(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)


class DiscordAdapter:
    platform = PLATFORM

    def __init__(self, core: Core, *, token: str | None = None, max_concurrent: int = 256,
                 identify_delay: float | None = None, lease_seconds: float = LEASE_SECONDS,
                 client_options: dict[str, Any] | None = None) -> None:
        self.core = core
        self.settings = core.settings
        token = token or core.settings.env.discord_bot_token
        if not token:
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        self.token: str = token
        self.identify_delay = identify_delay
        self.lease_seconds = lease_seconds
        self.client_options = dict(client_options or {})
        self.inbox = Inbox(core, self.platform, self._handle_entry, max_concurrent=max_concurrent)
        self.client: SoulLabClient | None = None
        self.leases: ShardLeases | None = None
        self.shard_count = 1
        self.shard_ids: list[int] = []
        self.ready = asyncio.Event()
        self._gateway: asyncio.Task[None] | None = None
        #: Gateway clients for shards taken over after start (each logged in, own tree).
        self._extra: list[tuple[SoulLabClient, asyncio.Task[None]]] = []
        self._lease_task: asyncio.Task[None] | None = None
        self._stopping = False
        #: Interaction tokens whose first follow-up is still being sent here (set when done).
        self._first_followup: dict[str, asyncio.Event] = {}

    # --- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Log in, sync commands if they changed, take shard leases, start the inbox and the
        gateway for the shards owned. Raises discord.py's errors (wrong token) and
        ``ServiceUnavailable`` (Redis down): the process does not start."""
        apply_urls(self.settings)
        core = self.core
        self.client = SoulLabClient(self, identify_delay=self.identify_delay, **self.client_options)
        await self.client.login(self.token)
        app_id = self.client.application_id
        assert app_id is not None
        dev_guild = self.settings.env.discord_dev_guild_id
        ops_guild = self.settings.env.discord_ops_guild_id
        self.client.tree = build_tree(self.client, core.router, self.answer, dev_guild, ops_guild)
        await sync_commands(core, self.client.tree, app_id, guild_id=dev_guild)
        if ops_guild and ops_guild != dev_guild:
            await sync_commands(core, self.client.tree, app_id, guild_id=ops_guild)
        self.shard_count, wanted = await self._shard_plan()
        self.leases = ShardLeases(core.store, str(app_id), self.shard_count, lease_seconds=self.lease_seconds,
                                  owner=self.inbox.owner)
        self.shard_ids = await self.leases.acquire(wanted)
        core.inboxes[self.platform] = self.inbox
        core.register_platform(PlatformLink(self.platform, wrap_sender(self._push),
                                            dm_link=f"https://discord.com/users/{app_id}", health=self.health))
        self._stopping = False
        await self.inbox.start()
        await core.outbox.start()
        if self.shard_ids:
            self._connect()
        else:
            log_event("discord_no_shards", level=logging.WARNING, wanted=wanted, shard_count=self.shard_count)
        self._lease_task = asyncio.get_running_loop().create_task(self._lease_loop(wanted))
        log_event("discord_started", shards=self.shard_ids, shard_count=self.shard_count, app=str(app_id))

    async def _shard_plan(self) -> tuple[int, list[int]]:
        """(shard count, shards this process should run) from the settings; without a count,
        one shard behind a configured gateway, else Discord's recommendation."""
        env = self.settings.env
        count = env.discord_shard_count
        if count is None:
            if env.discord_gateway_url:
                count = 1
            else:
                assert self.client is not None
                count, url, _limits = await self.client.http.get_bot_gateway()
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        ids = env.discord_shard_id_list or list(range(count))
        return count, ids

    def _connect(self) -> None:
        assert self.client is not None
        self.client.shard_count = self.shard_count
        self.client.shard_ids = list(self.shard_ids)
        self._gateway = asyncio.get_running_loop().create_task(self._run_gateway(self.client))

    async def _run_gateway(self, client: SoulLabClient) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_event("discord_gateway_failed", level=logging.ERROR, exc_info=True, error=type(exc).__name__)

    async def _connect_more(self, shard_ids: list[int]) -> None:
        """Shards taken over while this process already runs a gateway: discord.py cannot add
        shards to a connected client, so they get a client of their own (logged in with the
        same token, the same handlers and command tree; nothing is synced). The shards already
        running are not touched."""
        assert self.client is not None
        client = SoulLabClient(self, identify_delay=self.identify_delay, **self.client_options)
        await client.login(self.token)
        client.tree = build_tree(client, self.core.router, self.answer, self.settings.env.discord_dev_guild_id,
                                 self.settings.env.discord_ops_guild_id)
        client.shard_count = self.shard_count
        client.shard_ids = list(shard_ids)
        task = asyncio.get_running_loop().create_task(self._run_gateway(client))
        self._extra.append((client, task))
        log_event("discord_shards_taken_over", shards=shard_ids, shard_count=self.shard_count)

    async def _lease_loop(self, wanted: list[int]) -> None:
        """Renew the shard leases; shards of ``wanted`` not owned here (another process held
        them) are tried every round and connected once free (that process stopped or died:
        its lease ran out); a lease lost to another owner closes the gateway."""
        assert self.leases is not None
        while not self._stopping:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                lost = await self.leases.renew()
                if lost and self.client is not None:
                    log_event("discord_gateway_closed", level=logging.ERROR, reason="shard lease lost", shards=lost)
                    await self._close_gateways()
                    return
                missing = [s for s in wanted if s not in self.shard_ids]
                if not missing:
                    continue
                gained = [s for s in await self.leases.acquire(missing) if s not in self.shard_ids]
                if not gained:
                    continue
                if self._gateway is None:  # standby until now: the main client runs them
                    self.shard_ids = sorted(gained)
                    self._connect()
                else:
                    self.shard_ids = sorted({*self.shard_ids, *gained})
                    await self._connect_more(gained)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis trouble: try again next round
                log_event("redis_connection_error", level=logging.WARNING, operation="discord.leases",
                          error=type(exc).__name__)

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Graceful: let handlers in flight finish within the grace (follow-ups need the HTTP
        session), then close the gateway and give the shard leases back. Entries not finished
        stay in the inbox for the next owner."""
        self._stopping = True
        grace = self.settings.product.delivery.shutdown_grace_seconds if drain_seconds is None else drain_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lease_task
        await asyncio.gather(self.inbox.stop(max(0.0, deadline - loop.time())),
                             self.core.outbox.stop(max(0.0, deadline - loop.time())))
        await self._close_gateways()
        if self.leases is not None:
            await self.leases.release()
        self.ready.clear()
        log_event("discord_stopped")

    async def _close_gateways(self) -> None:
        clients = [c for c, _ in self._extra] + ([self.client] if self.client is not None else [])
        tasks = [t for _, t in self._extra] + ([self._gateway] if self._gateway is not None else [])
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        self._extra = []

    async def health(self) -> dict[str, Any]:
        """``/api/health`` entry: gateway state and the shards this process runs."""
        client = self.client
        if client is None or client.is_closed():
            return {"status": "down", "shards": self.shard_ids}
        if not self.shard_ids:
            return {"status": "standby", "shards": [], "shard_count": self.shard_count}
        latency = client.latency
        return {"status": "ok" if client.is_ready() else "connecting", "shards": self.shard_ids,
                "shard_count": self.shard_count,
                "latency_ms": round(latency * 1000, 1) if math.isfinite(latency) else None}

    # --- interactions -------------------------------------------------------------------
    async def _ack(self, interaction: discord.Interaction[Any], outcome: str, call: Any) -> bool:
        """Await the first response; False (counted, logged) when Discord refused it."""
        try:
            await call
        except discord.HTTPException as exc:
            code = int(exc.code or 0)
            label = {UNKNOWN_INTERACTION: "unknown", ALREADY_ACKNOWLEDGED: "taken"}.get(code)
            if label is None:
                raise
            self.core.metrics.interactions.labels(self.platform, label).inc()
            log_event("discord_interaction_" + label, level=logging.WARNING, interaction=str(interaction.id),
                      code=code)
            return False
        except discord.InteractionResponded:
            self.core.metrics.interactions.labels(self.platform, "taken").inc()
            return False
        self.core.metrics.interactions.labels(self.platform, outcome).inc()
        return True

    async def answer(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Answer one interaction that stands for ``text`` (see the module docstring)."""
        spec, args = self.core.router.spec_for(text)
        hint = str(interaction.locale) if interaction.locale else None
        guild = interaction.guild_id is not None
        modal = spec.modal_for(args, normalize_lang(hint)) if spec is not None else None
        if modal is not None:
            await self._ack(interaction, "modal", interaction.response.send_modal(build_modal(modal)))
            return
        if spec is not None and spec.name == "ops":  # shown to the channel only in an ops channel
            ephemeral = f"{self.platform}:{interaction.channel_id}" not in self.settings.ops_channels
        else:
            ephemeral = guild and (spec is None or spec.private)
        if not await self._ack(interaction, "deferred",
                               interaction.response.defer(ephemeral=ephemeral, thinking=True)):
            return
        user = interaction.user
        # A private answer in a guild that comes later (the outbox) is a private follow-up here.
        reply_to = f"ix:{interaction.application_id}:{int(time.time() * 1000)}:{interaction.token}" if ephemeral else ""
        event = Event(self.platform, str(user.id), text, chat_id=str(interaction.channel_id or user.id),
                      chat_kind="group" if guild else "private", lang_hint=hint,
                      display_name=user.display_name, request_id=f"dc-{interaction.id}", reply_to=reply_to)
        item = {"k": "i", "app": str(interaction.application_id), "tok": interaction.token,
                "id": str(interaction.id), "eph": ephemeral, "ev": asdict(event)}
        try:
            await self.inbox.put([(f"i{interaction.id}", f"u{user.id}", item)], handle_here=True)
        except ServiceUnavailable:
            lang = normalize_lang(hint)
            await self._followups(item, [Reply(t(lang, "error.service_unavailable"),
                                               error=ErrorCode.SERVICE_UNAVAILABLE)], event)

    async def on_modal_submit(self, interaction: discord.Interaction[Any]) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        command = command_of(str(data.get("custom_id", "")))
        if command is None:
            return
        await self.answer(interaction, modal_submit_text(command, modal_values(data)))

    async def on_message(self, message: discord.Message) -> None:
        """Plain text in a DM: the router's text hooks (onboarding answers, an open /ask)."""
        if message.author.bot or message.guild is not None or not message.content:
            return
        author = message.author
        event = Event(self.platform, str(author.id), message.content, chat_id=str(message.channel.id),
                      chat_kind="private", display_name=author.display_name, request_id=f"dc-m{message.id}")
        item = {"k": "m", "ch": str(message.channel.id), "ev": asdict(event)}
        try:
            await self.inbox.put([(f"m{message.id}", f"u{author.id}", item)], handle_here=True)
        except ServiceUnavailable:
            lang = await self.user_lang(event)
            await self._send(message.channel.id, [Reply(t(lang, "error.service_unavailable"),
                                                         error=ErrorCode.SERVICE_UNAVAILABLE)])

    async def _handle_entry(self, entry: InboxEntry) -> None:
        item = entry.payload
        event = Event(**item["ev"])
        if item.get("k") == "i":
            await self._finish_interaction(item, event)
        else:
            await self._finish_message(item, event)

    async def _finish_interaction(self, item: dict[str, Any], event: Event) -> None:
        done = self._first_followup.setdefault(item["tok"], asyncio.Event())
        try:
            replies = await self.core.router.handle(event)
            notice = await self._take_notice(event)
            await self._followups(item, [*notice, *replies], event)
        finally:
            done.set()
            self._first_followup.pop(item["tok"], None)

    async def _followups(self, item: dict[str, Any], replies: list[Reply], event: Event) -> None:
        """Send the replies as the interaction's follow-ups; on any failure, the localised error
        with a reference id instead (also a follow-up). Never raises."""
        try:
            await self._send_followups(item, replies, event)
            self.core.metrics.interactions.labels(self.platform, "answered").inc()
            return
        except discord.NotFound as exc:  # the token is gone (15 min): nobody to answer any more
            self.core.metrics.interactions.labels(self.platform, "expired").inc()
            log_event("discord_followup_expired", level=logging.WARNING, interaction=item["id"], code=exc.code)
            return
        except Exception:
            ref = uuid.uuid4().hex[:8]
            self.core.metrics.interactions.labels(self.platform, "failed").inc()
            log_event("discord_followup_failed", level=logging.ERROR, exc_info=True, captured=True, ref=ref,
                      interaction=item["id"])
            self.core.capture_exception(ref=ref, interaction=item["id"])
        lang = await self.user_lang(event)
        try:
            await self._webhook(item).send(t(lang, "error.internal_error_ref", ref=ref),
                                           ephemeral=event.chat_kind == "group", allowed_mentions=NO_MENTIONS,
                                           wait=True)
        except Exception:
            log_event("discord_error_reply_failed", level=logging.WARNING, ref=ref, interaction=item["id"])

    def _webhook(self, item: dict[str, Any]) -> discord.Webhook:
        assert self.client is not None
        return discord.Webhook.from_state({"id": item["app"], "type": 3, "token": item["tok"]},
                                          state=self.client._connection)

    async def _send_followups(self, item: dict[str, Any], replies: list[Reply], event: Event) -> None:
        guild = event.chat_kind == "group"
        messages = [m for r in replies for m in messages_for(r)]
        if not messages:  # the answer comes another way (the outbox): remove "thinking…"
            assert self.client is not None
            route = discord.http.Route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                                       webhook_id=item["app"], webhook_token=item["tok"])
            await self.client.http.request(route)
            return
        webhook = self._webhook(item)
        first = True
        for m in messages:
            if first and guild and m.private and not item["eph"]:
                # The loading message is public: it becomes a short note, the content follows privately.
                lang = await self.user_lang(event)
                await webhook.send(t(lang, "dc.private_note"), allowed_mentions=NO_MENTIONS, wait=True)
            await webhook.send(**m.kwargs(), ephemeral=guild and (m.private or item["eph"]), wait=True)
            first = False

    async def _finish_message(self, item: dict[str, Any], event: Event) -> None:
        replies = await self.core.router.handle(event)
        notice = await self._take_notice(event)
        try:
            await self._send(int(item["ch"]), [*notice, *replies])
        except Exception as exc:
            log_event("discord_reply_failed", level=logging.WARNING, error=type(exc).__name__, user=event.uid)

    async def _send(self, channel_id: int, replies: list[Reply]) -> None:
        assert self.client is not None
        channel = self.client.get_partial_messageable(channel_id)
        for reply in replies:
            for m in messages_for(reply):
                await channel.send(**m.kwargs())

    # --- the platform sender ------------------------------------------------------------
    async def _push(self, target: str, reply: Reply, retries: int | None = None) -> None:
        """Send ``reply`` to a user's DMs (``target`` = user id) or a channel (``chat:<id>``).

        discord.py errors propagate (``wrap_sender`` maps them); discord.py itself waits out
        429s (``retries`` is not used). A 50007 for a user is remembered so they are told next
        time (``DM_CLOSED_SESSION``)."""
        assert self.client is not None
        if target.startswith("chat:"):
            await self._send(int(target.removeprefix("chat:")), [reply])
            return
        if target.startswith("ix:"):
            await self._push_followup(target, reply)
            return
        user_id = int(target)
        try:
            channel = await self.client.create_dm(discord.Object(user_id))
            for m in messages_for(reply):
                await channel.send(**m.kwargs())
        except discord.Forbidden as exc:
            if exc.code == CLOSED_DMS:
                await self._remember_closed(user_id)
            raise

    async def _push_followup(self, target: str, reply: Reply) -> None:
        """``reply`` as ephemeral follow-ups of the interaction in ``target``
        (``ix:<application id>:<issued ms>:<token>``). Raises ``ReplyTargetGone`` when the token
        is too old or Discord no longer knows it (nothing was sent), discord.py errors else."""
        _, app, issued, token = target.split(":", 3)
        if time.time() - int(issued) / 1000 > IX_TTL_SECONDS:
            raise ReplyTargetGone("interaction token expired")
        pending = self._first_followup.get(token)
        if pending is not None:  # let the interaction's own answer ("working on it") go first
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(pending.wait(), FIRST_FOLLOWUP_WAIT_SECONDS)
        webhook = self._webhook({"app": app, "tok": token})
        first = True
        for m in messages_for(reply):
            try:
                await webhook.send(**m.kwargs(), ephemeral=True, wait=True)
            except discord.HTTPException as exc:
                # 10015 Unknown Webhook / 50027 Invalid Webhook Token: the token is gone.
                if not first or (exc.code not in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN)
                                 and exc.status not in (401, 404)):
                    raise  # part of the answer is out, or another failure: like any failure
                raise ReplyTargetGone(f"{exc.status} {exc.code}") from exc
            first = False
        self.core.metrics.interactions.labels(self.platform, "followup_later").inc()

    async def _remember_closed(self, user_id: int) -> None:
        try:
            aid = await self.core.accounts.lookup(f"{self.platform}:{user_id}")
            if aid:
                await self.core.sessions.put(aid, DM_CLOSED_SESSION, {"at": int(time.time())}, DM_CLOSED_TTL)
        except Exception as exc:  # best effort: the delivery outcome is what matters
            log_event("discord_dm_closed_note_failed", level=logging.WARNING, error=type(exc).__name__)

    async def _take_notice(self, event: Event) -> list[Reply]:
        """The one-time note for a user whose DMs bounced (then forgotten); [] otherwise."""
        try:
            aid = await self.core.accounts.lookup(event.uid)
            if not aid or await self.core.sessions.get(aid, DM_CLOSED_SESSION) is None:
                return []
            await self.core.sessions.drop(aid, DM_CLOSED_SESSION)
        except Exception:
            return []
        return [Reply(t(await self.user_lang(event), "dc.dms_closed_notice"), private=True)]

    async def user_lang(self, event: Event) -> Lang:
        """The user's chosen language, else the platform's hint (Redis down: the hint)."""
        try:
            aid = await self.core.accounts.lookup(event.uid)
            profile = await self.core.profiles.get(aid) if aid else None
        except Exception:
            profile = None
        return profile.lang if profile is not None else normalize_lang(event.lang_hint)
