"""Payload builders of the fake Discord (``tests/fakes/discord_api.py``): what users do.

``PayloadBuilders`` is a mixin of ``FakeDiscord``: realistic INTERACTION_CREATE payloads (slash
command, component, modal submit) and MESSAGE_CREATE payloads (DM, guild message) using the
fake's application id, guilds, users and DM channels. Dispatch them with ``fake.interact(...)``
or ``fake.dispatch("MESSAGE_CREATE", ...)``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakes import discord_payloads as P
from tests.fakes.discord_records import FakeGuild, FakeInteraction, FakeUser

__all__ = ["PayloadBuilders"]


class PayloadBuilders:
    """Builders over ``FakeDiscord``'s state (attributes below are set by ``FakeDiscord``)."""

    app_id: int
    bot_id: int
    bot_name: str
    ids: P.Snowflakes
    guilds: dict[int, FakeGuild]
    interactions: dict[int, FakeInteraction]
    commands: dict[int | None, list[dict[str, Any]]]

    if TYPE_CHECKING:  # provided by FakeDiscord
        def user(self, user_id: int | None = None, username: str | None = None, *, locale: str = "ko",
                 global_name: str | None = None) -> FakeUser: ...
        def dm_channel_id(self, user_id: int) -> int: ...
        def interaction(self, interaction_id: int | str) -> FakeInteraction: ...
        def _guild(self, guild: FakeGuild | int) -> FakeGuild: ...

    def _interaction_token(self, interaction_id: int) -> str:
        """Opaque like Discord's ("aW50ZXJhY3Rpb246" is base64 of "interaction:"), and deterministic."""
        digest = hashlib.sha256(f"{self.app_id}:{interaction_id}".encode()).digest() * 3
        return "aW50ZXJhY3Rpb246" + base64.urlsafe_b64encode(f"{interaction_id}:".encode() + digest).decode().rstrip("=")

    def _interaction(self, itype: int, data: dict[str, Any], *, user_id: int, guild: FakeGuild | int | None,
                     channel_id: int | None, locale: str | None,
                     message: dict[str, Any] | None | Callable[[int, int | None], dict[str, Any]] = None
                     ) -> dict[str, Any]:
        u = self.user(user_id)
        iid = self.ids.next()
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.app_id), "type": itype, "data": data,
            "token": self._interaction_token(iid), "version": 1,
            "locale": locale or u.locale, "app_permissions": P.ALL_PERMISSIONS, "entitlements": [],
            "entitlement_sku_ids": [], "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild is not None:
            g = self._guild(guild)
            cid = channel_id or g.channel_id
            payload.update({
                "guild_id": str(g.id), "guild": {"id": str(g.id), "locale": g.locale, "features": []},
                "guild_locale": g.locale, "channel_id": str(cid),
                "channel": {**P.text_channel(cid, g.id), "permissions": P.ALL_PERMISSIONS},
                "member": P.member(u.payload(), permissions=P.ALL_PERMISSIONS),
                "authorizing_integration_owners": {"0": str(g.id)}, "context": 0,
            })
            guild_id: int | None = g.id
        else:
            cid = channel_id or self.dm_channel_id(u.id)
            payload.update({"channel_id": str(cid), "channel": P.dm_channel(cid, u.payload()), "user": u.payload(),
                            "authorizing_integration_owners": {"0": "0"}, "context": 1})
            guild_id = None
        if callable(message):
            message = message(cid, guild_id)
        if message is not None:
            payload["message"] = message
        return payload

    @staticmethod
    def _options(options: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        if options is None:
            return []
        if isinstance(options, list):
            return options
        out = []
        for name, value in options.items():
            kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
            out.append({"name": name, "type": kind, "value": value})
        return out

    def slash_command(self, name: str, options: dict[str, Any] | list[dict[str, Any]] | None = None, *,
                      user_id: int, guild: FakeGuild | int | None = None, channel_id: int | None = None,
                      locale: str | None = None, subcommand: str | None = None,
                      command_guild_id: int | None = None) -> dict[str, Any]:
        """A chat-input command (type 2) as Discord sends it. ``options`` as ``{name: value}``
        (str 3, int 4, bool 5, float 10) or raw option dicts; ``guild=None`` is the bot's DM.
        ``command_guild_id``: the command is a guild command of that guild (``data.guild_id``).
        The command id is the synced one when the command was synced."""
        synced = {c["name"]: c for c in self.commands.get(command_guild_id, [])}
        cmd_id = synced[name]["id"] if name in synced else str(self.ids.next())
        data: dict[str, Any] = {"id": cmd_id, "name": name, "type": 1}
        opts = self._options(options)
        if subcommand is not None:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        if opts:
            data["options"] = opts
        if command_guild_id is not None:
            data["guild_id"] = str(command_guild_id)
        return self._interaction(P.APPLICATION_COMMAND, data, user_id=user_id, guild=guild, channel_id=channel_id,
                                 locale=locale)

    def bot_message(self, channel_id: int, guild_id: int | None, content: str = "",
                    components: list[dict[str, Any]] | None = None, flags: int = 0) -> dict[str, Any]:
        """A message by the bot (e.g. the one a pressed button sits on)."""
        return P.message(self.ids.next(), channel_id, P.user(self.bot_id, self.bot_name, bot=True),
                         {"content": content, "components": components or [], "flags": flags}, attachments=[],
                         guild_id=guild_id, application_id=self.app_id)

    def component(self, custom_id: str, *, user_id: int, guild: FakeGuild | int | None = None,
                  channel_id: int | None = None, message: dict[str, Any] | None = None, component_type: int = 2,
                  values: list[str] | None = None, locale: str | None = None) -> dict[str, Any]:
        """A component interaction (type 3): a button press (``component_type`` 2) or a select
        (3, with ``values``). ``message`` is the message the component is on, e.g. one from
        ``interaction_messages``/``messages_to``; by default a bot message holding just that
        component (discord.py finds DynamicItems only through the message's components)."""
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values

        def default_message(cid: int, gid: int | None) -> dict[str, Any]:
            comp: dict[str, Any] = {"type": component_type, "custom_id": custom_id}
            if component_type == 2:
                comp.update(style=1, label="button")
            elif component_type == 3:
                comp["options"] = [{"label": v, "value": v} for v in (values or ["x"])]
            return self.bot_message(cid, gid, "", [{"type": 1, "components": [comp]}])

        return self._interaction(P.MESSAGE_COMPONENT, data, user_id=user_id, guild=guild, channel_id=channel_id,
                                 locale=locale, message=message if message is not None else default_message)

    def modal_submit(self, custom_id: str, values: dict[str, str | list[str]], *, user_id: int,
                     guild: FakeGuild | int | None = None, channel_id: int | None = None,
                     modal: dict[str, Any] | None = None, message: dict[str, Any] | None = None,
                     locale: str | None = None) -> dict[str, Any]:
        """A modal submit (type 5) with ``values`` by input custom id. The layout mirrors
        ``modal`` (a type-9 callback's ``data``; by default the last modal opened with this
        custom id), so rows (type 1) and labels (type 18) come back the way they were sent.
        Raises ValueError for input Discord's client would not submit (a required field empty,
        a value outside min/max length)."""
        if modal is None:
            opened = [i.modal for i in self.interactions.values() if i.modal and i.modal.get("custom_id") == custom_id]
            modal = opened[-1] if opened else {"custom_id": custom_id, "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "style": 1}]} for k in values]}
        counter = iter(range(1, 1000))

        def submitted(comp: dict[str, Any]) -> dict[str, Any]:
            cid = comp.get("custom_id", "")
            value = values.get(cid)
            if comp.get("type") == 4:
                text = "" if value is None else str(value)
                if comp.get("required", True) and not text:
                    raise ValueError(f"modal field {cid!r} is required")
                if text and not int(comp.get("min_length") or 0) <= len(text) <= int(comp.get("max_length") or 4000):
                    raise ValueError(f"modal field {cid!r}: length {len(text)} outside the field's limits")
                return {"type": 4, "id": comp.get("id") or next(counter), "custom_id": cid, "value": text}
            picked = value if isinstance(value, list) else ([] if value is None else [value])
            return {"type": comp.get("type"), "id": comp.get("id") or next(counter), "custom_id": cid,
                    "values": picked}

        components: list[dict[str, Any]] = []
        for top in modal.get("components") or []:
            tid = top.get("id") or next(counter)
            if top.get("type") == 1:
                components.append({"type": 1, "id": tid, "components": [submitted(c) for c in top["components"]]})
            elif top.get("type") == 18:
                components.append({"type": 18, "id": tid, "component": submitted(top["component"])})
            else:
                components.append({"type": top.get("type"), "id": tid})
        data = {"custom_id": modal.get("custom_id", custom_id), "components": components}
        return self._interaction(P.MODAL_SUBMIT, data, user_id=user_id, guild=guild, channel_id=channel_id,
                                 locale=locale, message=message)

    def modal_submit_for(self, interaction_id: int | str, values: dict[str, str | list[str]],
                         **kw: Any) -> dict[str, Any]:
        """The submit of the modal the bot opened in answer to ``interaction_id``, by the same
        user in the same place (unless overridden in ``kw``)."""
        inter = self.interaction(interaction_id)
        if inter.modal is None:
            raise ValueError(f"interaction {interaction_id} was not answered with a modal")
        p = inter.payload
        user = (p.get("member") or {}).get("user") or p["user"]
        kw.setdefault("user_id", int(user["id"]))
        kw.setdefault("guild", int(p["guild_id"]) if p.get("guild_id") else None)
        kw.setdefault("channel_id", int(p["channel_id"]))
        kw.setdefault("locale", p.get("locale"))
        if "message" in p:
            kw.setdefault("message", p["message"])
        return self.modal_submit(inter.modal["custom_id"], values, modal=inter.modal, **kw)

    def dm_message(self, user_id: int, content: str, *, attachments: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload: the user writes to the bot in their DM channel."""
        u = self.user(user_id)
        mid = self.ids.next()
        return {"id": str(mid), "channel_id": str(self.dm_channel_id(user_id)), "author": u.payload(),
                "content": content, "timestamp": P.snowflake_time(mid), "edited_timestamp": None, "tts": False,
                "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": attachments or [],
                "embeds": [], "pinned": False, "type": 0, "flags": 0, "components": [],
                "nonce": str(mid), "channel_type": 1}

    def guild_message(self, guild: FakeGuild | int, user_id: int, content: str, *, mention_bot: bool = False,
                      channel_id: int | None = None) -> dict[str, Any]:
        """A MESSAGE_CREATE payload in a guild channel (``mention_bot`` prefixes ``<@bot>``)."""
        g = self._guild(guild)
        u = self.user(user_id)
        mid = self.ids.next()
        mentions = [P.user(self.bot_id, self.bot_name, bot=True)] if mention_bot else []
        text = f"<@{self.bot_id}> {content}" if mention_bot else content
        m = P.member(u.payload())
        del m["user"]
        return {"id": str(mid), "channel_id": str(channel_id or g.channel_id), "guild_id": str(g.id),
                "author": u.payload(), "member": m, "content": text, "timestamp": P.snowflake_time(mid),
                "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": mentions,
                "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
                "components": [], "nonce": str(mid), "channel_type": 0}

