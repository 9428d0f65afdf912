"""/ops on Discord (issue 14 item 3): a guild command of DISCORD_OPS_GUILD_ID only, for
administrators by default; the same facts as the terminal; refusals audited; buttons work."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path


from bot.core.ops.health import publish_heartbeat
from tests.fakes.discord_api import FakeDiscord, FakeGuild
from tests.handlers.discord.conftest import dc_core, running
from tests.support.bot_procs import ROOT
from tests.support.factory import TEST_KEY, TEST_SIGNING_SECRET

EPHEMERAL = 64
ADMIN = 4242
FACT = re.compile(r"^\S+ ([a-z_]+): ([a-z_]+)\b")


def facts(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := FACT.match(line))}


def ops_env(fake: FakeDiscord, ops: FakeGuild) -> dict[str, str]:
    return {"DISCORD_OPS_GUILD_ID": str(ops.id), "OPS_ADMINS": f"dc:{ADMIN}",
            "OPS_CHANNELS": f"dc:{ops.channel_id}"}


async def terminal(redis_url: str, tmp_path: Path, *words: str) -> str:
    """``python -m bot ops …`` against the same Redis (a local operator)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "SLACK_"))}
    env.update({"APP_ENV": "test", "REDIS_URL": redis_url, "SIGNING_SECRET": TEST_SIGNING_SECRET,
                "PROFILE_ENCRYPTION_KEY": TEST_KEY, "DATA_DIR": str(tmp_path), "PORT": "0", "LOG_LEVEL": "WARNING"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "ops", *words, cwd=str(ROOT), env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


async def test_ops_is_registered_only_in_the_ops_guild_for_administrators(redis_url: str, tmp_path: Path,
                                                                         fake: FakeDiscord) -> None:
    ops = fake.add_guild("ops")
    core = dc_core(redis_url, tmp_path, fake, **ops_env(fake, ops))
    try:
        async with running(core):
            pass
        assert "ops" not in {c["name"] for c in fake.commands.get(None, [])}  # never global
        [cmd] = [c for c in fake.commands.get(ops.id, []) if c["name"] == "ops"]
        assert str(cmd["default_member_permissions"]) == "8"  # administrator
        assert cmd["options"][0]["name"] == "command"
        assert cmd["description_localizations"]["ko"].startswith("운영 명령")
    finally:
        await core.store.close()


async def test_ops_health_from_discord_has_the_terminals_facts_and_a_non_admin_is_refused(
        redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    ops = fake.add_guild("ops")
    other = fake.add_guild("users")
    core = dc_core(redis_url, tmp_path, fake, **ops_env(fake, ops))
    try:
        async with running(core):
            await publish_heartbeat(core)  # what the app's heartbeat loop does
            inter = await fake.interact(fake.slash_command("ops", {"command": "health"}, user_id=ADMIN, guild=ops,
                                                           command_guild_id=ops.id))
            [msg] = await fake.wait_messages(inter.id, 1, timeout=10)
            assert not (inter.response or {}).get("data", {}).get("flags", 0) & EPHEMERAL  # the ops channel sees it
            here = facts(msg["content"])
            there = facts(await terminal(redis_url, tmp_path, "health"))
            assert here == there and here["redis"] == "ok" and here["discord"] == "ok", (msg["content"], there)

            # Outside the ops channel: private, and refused for anyone but an admin in an ops channel.
            user = fake.user().id
            for who, guild in ((user, ops), (ADMIN, other)):
                refused = await fake.interact(fake.slash_command("ops", {"command": "health"}, user_id=who,
                                                                 guild=guild, command_guild_id=ops.id))
                [no] = await fake.wait_messages(refused.id, 1, timeout=10)
                assert "FORBIDDEN" in no["content"]
                if guild is other:
                    assert refused.response == {"type": 5, "data": {"flags": EPHEMERAL}}
        entries = await core.ops.audit.recent(10) if core.ops is not None else []
        steps = [(e.surface, e.command, e.result, e.who) for e in reversed(entries)]
        # The admin's run (its result is the health verdict, "ok" or "degraded") and both refusals.
        assert steps[0][0:2] == ("dc", "health") and steps[0][3] == f"dc:{ADMIN}" and steps[0][2] != "FORBIDDEN"
        refusals = [s for s in steps if s[2] == "FORBIDDEN"]
        assert len(refusals) == 2 and {s[3] for s in refusals} == {f"dc:{user}", f"dc:{ADMIN}"}
    finally:
        await core.store.close()


async def test_ops_confirmation_buttons_work_through_persistent_buttons(redis_url: str, tmp_path: Path,
                                                                        fake: FakeDiscord) -> None:
    ops = fake.add_guild("ops")
    core = dc_core(redis_url, tmp_path, fake, **ops_env(fake, ops))
    target = fake.user().id
    try:
        from tests.support.factory import onboard

        await onboard(core, f"dc:{target}")
        aid = await core.accounts.resolve(f"dc:{target}")
        before = (await core.ledger.account(aid))["balance"]
        async with running(core):
            inter = await fake.interact(fake.slash_command("ops", {"command": f"credits grant dc:{target} 5 bug"},
                                                           user_id=ADMIN, guild=ops, command_guild_id=ops.id))
            [ask] = await fake.wait_messages(inter.id, 1, timeout=10)
            ids = [c["custom_id"] for row in ask["components"] for c in row["components"] if c.get("custom_id")]
            confirm = next(i for i in ids if "confirm" in i)
            assert confirm.startswith("sl:/ops ")
            press = await fake.interact(fake.component(confirm, user_id=ADMIN, guild=ops, message=ask))
            await fake.wait_messages(press.id, 1, timeout=10)
            again = await fake.interact(fake.component(confirm, user_id=ADMIN, guild=ops, message=ask))
            await fake.wait_messages(again.id, 1, timeout=10)
        assert (await core.ledger.account(aid))["balance"] == before + 5  # applied once
    finally:
        await core.store.close()
