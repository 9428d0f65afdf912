"""Slash commands from the router's command specs; localised descriptions; sync only on change.

Every command in ``Router.menu_entries()`` becomes a slash command with an English name (the
router's name), an English default description and a Korean translation (``cmd.<name>`` keys,
else the /help line), through discord.py's ``app_commands.Translator``. Typed arguments
(``CommandSpec.options``) become options, closed sets become choices. The callback only turns
the options back into the command's text (``/tarot three love?``) and hands it to the
adapter, so the router parses exactly what a typed command would give it.

``/ops`` (the ops core, ``bot/core/ops``) is not a menu entry: it is a guild command added only
to ``DISCORD_OPS_GUILD_ID`` (``ops_command``), with administrator-only default permissions
(``default_member_permissions``; server admins may narrow it further), never in the global
list; its one option is the text after ``/ops`` (``health``, ``credits grant dc:1 5 …``).
Authorisation stays in the ops core (``OPS_ADMINS`` and ``OPS_CHANNELS``).

Sync: ``sync_commands`` hashes the translated payload (what ``CommandTree.sync`` would send)
and compares it with the digest stored in Redis for the application and scope
(``K.discord_commands``); it syncs only when they differ (or when forced: ``python -m bot
discord sync``), then stores the new digest. It is called once at start (never from
``on_ready``, which fires on every reconnect). Two processes starting together may both sync
(a bulk overwrite with the same payload: harmless). A crash between the sync and storing the
digest means the next start syncs again. Redis down: ``ServiceUnavailable`` (start fails, as
for the inbox).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.core.i18n import LANGS, Lang, catalogue, t
from bot.core.logs import log_event
from bot.core.router import help_summary
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.router import CommandSpec, Router, SlashOption
    from bot.core.service import Core

__all__ = ["LocaleTranslator", "build_tree", "command_text", "description_of", "payload_digest", "sync_commands",
           "MAX_DESCRIPTION"]

MAX_DESCRIPTION = 100
#: The languages Discord shows translations in (default strings are English).
_LOCALES: dict[discord.Locale, Lang] = {discord.Locale.korean: "ko"}

OnCommand = Callable[[discord.Interaction[Any], str], Awaitable[None]]


def _text(lang: Lang, key: str) -> str:
    return t(lang, key) if key in catalogue() else key


def description_of(spec: CommandSpec, lang: Lang) -> str:
    """A command's short description: ``description_key``, else its /help line without the
    leading ``/name —``; cut to 100 characters."""
    text = t(lang, spec.description_key) if spec.description_key else help_summary(spec, lang)
    text = " ".join(text.split()) or spec.name
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 1] + "…"


def _ls(key: str, *, spec: CommandSpec | None = None) -> app_commands.locale_str:
    """A string Discord shows in English by default, translated by ``LocaleTranslator``."""
    if spec is not None:
        return app_commands.locale_str(description_of(spec, "en"), spec=spec.name)
    return app_commands.locale_str(_text("en", key)[:MAX_DESCRIPTION], key=key)


class LocaleTranslator(app_commands.Translator):
    """Descriptions, option descriptions and choice names from the bot's locale files."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        lang = _LOCALES.get(locale)
        if lang is None:
            return None
        router: Router | None = getattr(self, "router", None)
        if "spec" in string.extras and router is not None:
            spec = router.commands.get(string.extras["spec"])
            return description_of(spec, lang) if spec is not None else None
        key = string.extras.get("key")
        if not key or key not in catalogue():
            return None
        return t(lang, key)[:MAX_DESCRIPTION]


def command_text(spec: CommandSpec, values: dict[str, Any]) -> str:
    """The typed command an invocation stands for: ``/name`` and the given values in option
    order; an option left out before a given one takes its ``default`` (``/tarot`` with only
    a question is ``/tarot three <question>``)."""
    parts = [f"/{spec.name}"]
    given = [o for o in spec.options if values.get(o.name) not in (None, "")]
    last = spec.options.index(given[-1]) if given else -1
    for i, opt in enumerate(spec.options):
        value = values.get(opt.name)
        if value in (None, ""):
            if i < last and opt.default:
                parts.append(opt.default)
            continue
        parts.append(" ".join(str(value).split()))
    return " ".join(parts)


def _annotation(opt: SlashOption) -> Any:
    if opt.kind == "int":
        return int
    if opt.max_length and not opt.choices:
        return app_commands.Range[str, 1, opt.max_length]
    return str


def _command(spec: CommandSpec, on_command: OnCommand) -> app_commands.Command[Any, Any, Any]:
    async def callback(interaction: discord.Interaction[Any], **values: Any) -> None:
        await on_command(interaction, command_text(spec, values))

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    ordered = sorted(spec.options, key=lambda o: not o.required)  # Discord: required options first
    for opt in ordered:
        params.append(inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(opt),
                                        default=inspect.Parameter.empty if opt.required else None))
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    if spec.options:
        app_commands.describe(**{o.name: _ls(o.description_key) for o in spec.options})(callback)
        choices = {o.name: [app_commands.Choice(name=_ls(label), value=value) for value, label in o.choices]
                   for o in spec.options if o.choices}
        if choices:
            app_commands.choices(**choices)(callback)
    return app_commands.Command(name=spec.name, description=_ls("", spec=spec), callback=callback)


def ops_command(on_command: OnCommand) -> app_commands.Command[Any, Any, Any]:
    """``/ops <command>``: administrators only by default, usable in a guild only."""
    async def callback(interaction: discord.Interaction[Any], command: str) -> None:
        await on_command(interaction, f"/ops {' '.join(command.split())}".rstrip())

    app_commands.describe(command=_ls("cmd.ops.command"))(callback)
    cmd: app_commands.Command[Any, Any, Any] = app_commands.Command(
        name="ops", description=_ls("cmd.ops"), callback=callback)
    cmd.default_permissions = discord.Permissions(administrator=True)
    cmd.guild_only = True
    return cmd


def build_tree(client: discord.Client, router: Router, on_command: OnCommand,
               dev_guild_id: int | None = None, ops_guild_id: int | None = None) -> app_commands.CommandTree[Any]:
    """The client's command tree: one slash command per menu entry; with ``dev_guild_id`` the
    commands are (also) copied to that guild, which is what gets synced; with ``ops_guild_id``
    (and the router's hidden ``ops`` command), ``/ops`` in that guild only."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    for spec in router.menu_entries():
        tree.add_command(_command(spec, on_command))
    if dev_guild_id:
        tree.copy_global_to(guild=discord.Object(dev_guild_id))
    if ops_guild_id and "ops" in router.commands:
        tree.add_command(ops_command(on_command), guild=discord.Object(ops_guild_id))
    return tree


async def _translator(tree: app_commands.CommandTree[Any], router: Router) -> None:
    if not isinstance(tree.translator, LocaleTranslator):
        translator = LocaleTranslator()
        translator.router = router  # type: ignore[attr-defined]
        await tree.set_translator(translator)


async def translated_payload(tree: app_commands.CommandTree[Any], router: Router,
                             guild_id: int | None = None) -> list[dict[str, Any]]:
    """Exactly what ``tree.sync`` would send for the scope (translations applied)."""
    await _translator(tree, router)
    guild = discord.Object(guild_id) if guild_id else None
    translator = tree.translator
    assert translator is not None
    return [await c.get_translated_payload(tree, translator) for c in tree._get_all_commands(guild=guild)]


def payload_digest(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


async def sync_commands(core: Core, tree: app_commands.CommandTree[Any], app_id: int, *,
                        guild_id: int | None = None, force: bool = False) -> bool:
    """Sync the tree's commands for one scope (global, or ``guild_id``) when their payload
    changed since the last sync recorded in Redis, or when ``force``; True if it synced.
    See the module docstring for crash and outage behaviour."""
    payload = await translated_payload(tree, core.router, guild_id)
    digest = payload_digest(payload)
    key = K.discord_commands(str(app_id), str(guild_id) if guild_id else "global")
    redis = core.store.redis
    if not force:
        async with redis_guard("discord.commands_check"):
            if await redis.get(key) == digest:
                log_event("discord_commands_current", scope="guild" if guild_id else "global", count=len(payload))
                return False
    await tree.sync(guild=discord.Object(guild_id) if guild_id else None)
    async with redis_guard("discord.commands_mark"):
        await redis.set(key, digest)
    log_event("discord_commands_synced", scope="guild" if guild_id else "global", count=len(payload),
              forced=force)
    return True


def check_lengths(router: Router) -> list[str]:
    """Every description, option description and choice name over Discord's 100 characters,
    in every language (Discord refuses a sync with one; this finds them first)."""
    problems = [f"/ops {lang}: description" for lang in LANGS for key in ("cmd.ops", "cmd.ops.command")
                if len(_text(lang, key)) > MAX_DESCRIPTION]
    for spec in router.menu_entries():
        for lang in LANGS:
            if spec.description_key and len(t(lang, spec.description_key)) > MAX_DESCRIPTION:
                problems.append(f"/{spec.name} {lang}: description")
            for opt in spec.options:
                if len(_text(lang, opt.description_key)) > MAX_DESCRIPTION:
                    problems.append(f"/{spec.name} {opt.name} {lang}: description")
                problems += [f"/{spec.name} {opt.name}={value} {lang}: choice" for value, label in opt.choices
                             if len(_text(lang, label)) > MAX_DESCRIPTION]
    return problems
