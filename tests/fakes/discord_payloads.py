"""Discord wire objects for the fake Discord (``tests/fakes/discord_api.py``).

Pure functions: snowflakes, users, members, guilds, channels, messages, and the checks Discord
applies to what a bot sends (message, modal and application-command limits). Shapes follow
Discord's API v10 JSON (ids as strings, ISO timestamps), so the real discord.py parses them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
ALL_PERMISSIONS = str((1 << 51) - 1)

# Intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Message flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15

# Interaction types and callback types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE = 4, 5, 6
UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 7, 8, 9
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE,
                        UPDATE_MESSAGE, MODAL},
    MODAL_SUBMIT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
}

LOCALES = {"id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl", "no", "pl",
           "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th", "zh-CN", "ja",
           "zh-TW", "ko"}


class Snowflakes:
    """Deterministic snowflake ids: each id is one millisecond after the previous one.

    So consecutive ids alternate between shards (``(id >> 22) % shard_count``), and a test run
    always produces the same ids.
    """

    def __init__(self, start: datetime = datetime(2025, 1, 1, tzinfo=UTC)) -> None:
        self._ms = int(start.timestamp() * 1000) - DISCORD_EPOCH_MS
        self._n = itertools.count()

    def next(self) -> int:
        n = next(self._n)
        return ((self._ms + n) << 22) | (1 << 17) | (n & 0xFFF)


def shard_for(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to."""
    return (guild_id >> 22) % shard_count


def snowflake_time(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# --- objects ---------------------------------------------------------------------------------

def user(user_id: int, username: str, global_name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(user_id), "username": username, "global_name": global_name,
                           "discriminator": "0", "avatar": None, "public_flags": 0, "flags": 0,
                           "banner": None, "accent_color": None, "avatar_decoration_data": None}
    if bot:
        out["bot"] = True
    return out


def member(user_obj: dict[str, Any], *, joined_at: str | None = None, permissions: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"user": user_obj, "nick": None, "avatar": None, "banner": None, "roles": [],
                           "joined_at": joined_at or now_iso(), "premium_since": None, "deaf": False,
                           "mute": False, "pending": False, "flags": 0, "communication_disabled_until": None}
    if permissions is not None:
        out["permissions"] = permissions
    return out


def text_channel(channel_id: int, guild_id: int, name: str = "general", position: int = 0) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "position": position,
            "permission_overwrites": [], "topic": None, "nsfw": False, "last_message_id": None,
            "rate_limit_per_user": 0, "parent_id": None, "default_auto_archive_duration": 1440, "flags": 0}


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0, "recipients": [recipient]}


def everyone_role(guild_id: int) -> dict[str, Any]:
    return {"id": str(guild_id), "name": "@everyone", "color": 0, "hoist": False, "icon": None,
            "unicode_emoji": None, "position": 0, "permissions": "2222085186637376", "managed": False,
            "mentionable": False, "flags": 0}


def guild(guild_id: int, name: str, *, owner_id: int, channels: list[dict[str, Any]], members: list[dict[str, Any]],
          locale: str = "ko") -> dict[str, Any]:
    """A full GUILD_CREATE payload (what Discord sends after READY for an available guild)."""
    return {"id": str(guild_id), "name": name, "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(owner_id), "afk_channel_id": None, "afk_timeout": 300, "widget_enabled": False,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [everyone_role(guild_id)], "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": channels[0]["id"] if channels else None,
            "system_channel_flags": 0, "rules_channel_id": None, "max_members": 500000,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
            "premium_subscription_count": 0, "preferred_locale": locale, "public_updates_channel_id": None,
            "nsfw_level": 0, "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None,
            "joined_at": now_iso(), "large": False, "unavailable": False, "member_count": len(members),
            "voice_states": [], "members": members, "channels": channels, "threads": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [], "lazy": True}


def attachment(attachment_id: int, filename: str, size: int, content_type: str | None, base_url: str,
               channel_id: int, *, ephemeral: bool = False, description: str | None = None) -> dict[str, Any]:
    url = f"{base_url}/attachments/{channel_id}/{attachment_id}/{filename}"
    out: dict[str, Any] = {"id": str(attachment_id), "filename": filename, "size": size, "url": url,
                           "proxy_url": url, "content_type": content_type}
    if description:
        out["description"] = description
    if ephemeral:
        out["ephemeral"] = True
    return out


def json_loads(text: str) -> Any:
    return json.loads(text)


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def with_component_ids(components: list[dict[str, Any]], counter: Iterator[int]) -> list[dict[str, Any]]:
    """Components as Discord echoes them back: each gets a numeric ``id`` when it has none."""
    out = []
    for comp in components:
        c = dict(comp)
        c.setdefault("id", next(counter))
        if isinstance(c.get("components"), list):
            c["components"] = with_component_ids(c["components"], counter)
        if isinstance(c.get("component"), dict):
            c["component"] = with_component_ids([c["component"]], counter)[0]
        out.append(c)
    return out


def message(message_id: int, channel_id: int, author: dict[str, Any], payload: dict[str, Any], *,
            attachments: list[dict[str, Any]], guild_id: int | None = None, msg_type: int = 0,
            webhook_id: int | None = None, application_id: int | None = None,
            interaction_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message object built from what the bot sent (``payload``: content/embeds/components/flags)."""
    comps = payload.get("components") or []
    out: dict[str, Any] = {
        "id": str(message_id), "channel_id": str(channel_id), "author": author,
        "content": payload.get("content") or "", "timestamp": snowflake_time(message_id), "edited_timestamp": None,
        "tts": bool(payload.get("tts", False)), "mention_everyone": False, "mentions": [], "mention_roles": [],
        "mention_channels": [], "attachments": attachments, "embeds": list(payload.get("embeds") or []),
        "reactions": [], "pinned": False, "type": msg_type, "flags": int(payload.get("flags") or 0),
        "components": with_component_ids(comps, itertools.count(1)),
    }
    if guild_id is not None:
        out["guild_id"] = str(guild_id)
    if webhook_id is not None:
        out["webhook_id"] = str(webhook_id)
    if application_id is not None:
        out["application_id"] = str(application_id)
    if interaction_metadata is not None:
        out["interaction_metadata"] = interaction_metadata
    return out


# --- checks Discord makes (400 "Invalid Form Body", code 50035) ------------------------------

def _err(errors: dict[str, Any], path: list[str | int], code: str, text: str) -> None:
    node = errors
    for part in path:
        node = node.setdefault(str(part), {})
    node.setdefault("_errors", []).append({"code": code, "message": text})


def _max_len(errors: dict[str, Any], path: list[str | int], value: Any, limit: int, minimum: int = 0) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        _err(errors, path, "STRING_TYPE_CONVERT", "Could not interpret value as string.")
    elif len(value) > limit:
        _err(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    elif len(value) < minimum:
        _err(errors, path, "BASE_TYPE_MIN_LENGTH", f"Must be {minimum} or more in length.")


def _check_components(errors: dict[str, Any], comps: list[dict[str, Any]]) -> None:
    if len(comps) > 5:
        _err(errors, ["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    for r, row in enumerate(comps):
        if row.get("type") != 1:
            _err(errors, ["components", r, "type"], "UNION_TYPE_CHOICES", "Value of field \"type\" must be 1.")
            continue
        children = row.get("components") or []
        if not 1 <= len(children) <= 5:
            _err(errors, ["components", r, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for c, comp in enumerate(children):
            path: list[str | int] = ["components", r, "components", c]
            if comp.get("type") == 2:
                _max_len(errors, [*path, "label"], comp.get("label"), 80)
                if comp.get("style") == 5:
                    if not comp.get("url"):
                        _err(errors, [*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
                elif comp.get("style") != 6:
                    if not comp.get("custom_id"):
                        _err(errors, [*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
                    _max_len(errors, [*path, "custom_id"], comp.get("custom_id"), 100)
            elif comp.get("type") in (3, 5, 6, 7, 8):
                _max_len(errors, [*path, "custom_id"], comp.get("custom_id"), 100, 1)
                if len(comp.get("options") or []) > 25:
                    _err(errors, [*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")


def check_message(payload: dict[str, Any], files: int, *, editing: bool = False) -> dict[str, Any] | None:
    """Discord's checks on a message a bot creates or edits: the error body, or None if accepted."""
    errors: dict[str, Any] = {}
    flags = int(payload.get("flags") or 0)
    v2 = bool(flags & IS_COMPONENTS_V2)
    content = payload.get("content")
    if v2 and content:
        _err(errors, ["content"], "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
             "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2")
    _max_len(errors, ["content"], content, 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        _err(errors, ["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if files > 10:
        _err(errors, ["files"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if not v2:
        _check_components(errors, payload.get("components") or [])
    if errors:
        return {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    empty = not (content or embeds or files or payload.get("attachments") or payload.get("components")
                 or payload.get("sticker_ids") or payload.get("poll"))
    if empty and not editing:
        return {"message": "Cannot send an empty message", "code": 50006}
    return None


def check_modal(data: dict[str, Any]) -> dict[str, Any] | None:
    """Discord's checks on a MODAL (type 9) callback's ``data``: the error body, or None."""
    errors: dict[str, Any] = {}
    _max_len(errors, ["data", "custom_id"], data.get("custom_id"), 100, 1)
    _max_len(errors, ["data", "title"], data.get("title"), 45, 1)
    comps = data.get("components") or []
    if not 1 <= len(comps) <= 5:
        _err(errors, ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    for i, top in enumerate(comps):
        path: list[str | int] = ["data", "components", i]
        if top.get("type") == 1:
            inner = top.get("components") or []
            if len(inner) != 1:
                _err(errors, [*path, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 1 in length.")
            children = [(c, [*path, "components", j]) for j, c in enumerate(inner)]
        elif top.get("type") == 18:
            _max_len(errors, [*path, "label"], top.get("label"), 45, 1)
            children = [(top.get("component") or {}, [*path, "component"])]
        elif top.get("type") == 10:
            children = []
        else:
            _err(errors, [*path, "type"], "UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (1, 10, 18).")
            children = []
        for comp, cpath in children:
            _max_len(errors, [*cpath, "custom_id"], comp.get("custom_id"), 100, 1)
            if comp.get("type") == 4:
                if top.get("type") == 1:
                    _max_len(errors, [*cpath, "label"], comp.get("label"), 45, 1)
                _max_len(errors, [*cpath, "placeholder"], comp.get("placeholder"), 100)
                _max_len(errors, [*cpath, "value"], comp.get("value"), 4000)
                if int(comp.get("max_length") or 4000) > 4000:
                    _err(errors, [*cpath, "max_length"], "NUMBER_TYPE_MAX", "int value should be <= 4000.")
    if errors:
        return {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    return None


_NAME = re.compile(r"^[-_'\w]{1,32}$")


def _check_name(errors: dict[str, Any], path: list[str | int], name: Any, lowercase: bool) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        _err(errors, path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    elif lowercase and name != name.lower():
        _err(errors, path, "APPLICATION_COMMAND_INVALID_NAME", "Command name must be lowercase")


def _check_localized(errors: dict[str, Any], path: list[str | int], field: str, values: Any, limit: int,
                     lowercase_name: bool) -> None:
    for loc, text in (values or {}).items():
        if loc not in LOCALES:
            _err(errors, [*path, field, loc], "LOCALE_INVALID", f"Invalid locale {loc!r}")
        elif field == "name_localizations":
            _check_name(errors, [*path, field, loc], text, lowercase_name)
        else:
            _max_len(errors, [*path, field, loc], text, limit, 1)


def _check_options(errors: dict[str, Any], path: list[str | int], options: list[dict[str, Any]]) -> None:
    if len(options) > 25:
        _err(errors, [*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        p: list[str | int] = [*path, "options", i]
        _check_name(errors, [*p, "name"], opt.get("name"), True)
        if opt.get("name") in names:
            _err(errors, [*p, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option name already exists")
        names.add(opt.get("name", ""))
        _max_len(errors, [*p, "description"], opt.get("description"), 100, 1)
        _check_localized(errors, p, "name_localizations", opt.get("name_localizations"), 32, True)
        _check_localized(errors, p, "description_localizations", opt.get("description_localizations"), 100, True)
        if opt.get("type") in (1, 2):
            _check_options(errors, p, opt.get("options") or [])
            continue
        if opt.get("required"):
            if seen_optional:
                _err(errors, [*p, "required"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                     "Required options must be placed before non-required options")
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            _err(errors, [*p, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, ch in enumerate(choices):
            _max_len(errors, [*p, "choices", j, "name"], ch.get("name"), 100, 1)
            if isinstance(ch.get("value"), str):
                _max_len(errors, [*p, "choices", j, "value"], ch.get("value"), 100, 1)
            for loc, text in (ch.get("name_localizations") or {}).items():
                if loc not in LOCALES:
                    _err(errors, [*p, "choices", j, "name_localizations", loc], "LOCALE_INVALID", "Invalid locale")
                else:
                    _max_len(errors, [*p, "choices", j, "name_localizations", loc], text, 100, 1)


def check_commands(commands: Any) -> dict[str, Any] | None:
    """Discord's checks on a bulk-overwrite body (PUT .../commands): the error body, or None."""
    errors: dict[str, Any] = {}
    if not isinstance(commands, list):
        return {"message": "Invalid Form Body", "code": 50035,
                "errors": {"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Only iterables may be used in a ListType"}]}}
    if sum(1 for c in commands if c.get("type", 1) == 1) > 100:
        _err(errors, [], "APPLICATION_COMMANDS_TOO_MANY", "Maximum number of application commands reached (100)")
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        kind = int(cmd.get("type", 1))
        _check_name(errors, [i, "name"], cmd.get("name"), kind == 1)
        key = (cmd.get("name", ""), kind)
        if key in seen:
            _err(errors, [i, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        seen.add(key)
        if kind == 1:
            _max_len(errors, [i, "description"], cmd.get("description"), 100, 1)
            _check_localized(errors, [i], "description_localizations", cmd.get("description_localizations"), 100, True)
            _check_options(errors, [i], cmd.get("options") or [])
        elif cmd.get("description"):
            _err(errors, [i, "description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                 "Context menu commands cannot have description")
        _check_localized(errors, [i], "name_localizations", cmd.get("name_localizations"), 32, kind == 1)
    if errors:
        return {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    return None
