"""``python -m bot [run|console|ops …|broadcast status|pause|resume|rotate-keys|migrate|backup|reconcile|discord sync]``.

With no subcommand: the console chat when no platform token is set, else the platforms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

__all__ = ["main", "rotate_keys_cli", "reconcile_cli", "migrate_cli"]


async def _rotate_keys(batch: int, cursor: int) -> int:
    from bot.core.logs import configure_logging
    from bot.core.service import Core
    from bot.core.settings import load_settings
    from bot.core.store import open_store

    settings = load_settings()
    configure_logging(settings.env.log_level)
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        core = await Core.create(settings, store)
        print(f"rotate-keys: current key {core.cipher.current_kid}; can read {', '.join(core.cipher.kids)}",
              flush=True)
        report = await core.profiles.rotate_keys(
            batch=batch, cursor=cursor,
            progress=lambda r: print(f"  cursor={r.cursor} {r.line()}", flush=True))
    finally:
        await store.close()
    print(f"rotate-keys: done. {report.line()}", flush=True)
    if report.unknown_key:
        print("rotate-keys: some profiles use a key that is not configured: add it to "
              "PROFILE_ENCRYPTION_KEYS (after the current key) and run again.", flush=True)
    if report.busy:
        print("rotate-keys: some profiles kept changing; run again to finish them.", flush=True)
    return 1 if (report.unknown_key or report.busy) else 0


def rotate_keys_cli(batch: int = 200, cursor: int = 0) -> int:
    """Re-encrypt stored profiles under the current key; prints counts. Safe to re-run."""
    from bot.core.errors import ServiceUnavailable
    from bot.core.settings import SettingsError

    try:
        return asyncio.run(_rotate_keys(batch, cursor))
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except ServiceUnavailable:
        print("soul-lab: Redis is not reachable; nothing half-written, run rotate-keys again", flush=True)
        return 1


async def _reconcile() -> int:
    from bot.core.logs import configure_logging
    from bot.core.pseudonym import pseudonym
    from bot.core.service import Core
    from bot.core.settings import load_settings
    from bot.core.store import open_store

    settings = load_settings()
    configure_logging(settings.env.log_level)
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        core = await Core.create(settings, store)
        bad = await core.ledger.reconcile_all()
    finally:
        await store.close()
    for rec in bad:  # accounts by pseudonym (as in the logs), never the raw user id
        print(f"  {pseudonym(rec.account)}: balance={rec.balance} ledger_sum={rec.ledger_sum} "
              f"held={rec.held} open_holds={rec.open_holds}", flush=True)
    print(f"reconcile: {len(bad)} account(s) do not balance", flush=True)
    return 1 if bad else 0


def reconcile_cli() -> int:
    """Check every account (balance == checkpoint + ledger, held == open holds); exit 1 if any differs."""
    from bot.core.errors import ServiceUnavailable
    from bot.core.settings import SettingsError

    try:
        return asyncio.run(_reconcile())
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except ServiceUnavailable:
        print("soul-lab: Redis is not reachable; run reconcile again", flush=True)
        return 1


async def _migrate(batch: int, force: bool) -> int:
    from bot.core.logs import configure_logging
    from bot.core.migrate import MigrationRefused, migrate_v1_to_v2
    from bot.core.service import Core
    from bot.core.settings import load_settings
    from bot.core.store import open_store
    from bot.core.store.keys import LAYOUT_VERSION
    from bot.core.store.urls import parse_redis_url

    settings = load_settings()
    configure_logging(settings.env.log_level)
    if settings.env.redis_url and parse_redis_url(settings.env.redis_url).kind == "cluster":
        raise MigrationRefused("REDIS_URL names a Redis Cluster; a v1 dataset lives on one standalone Redis. "
                               "Point REDIS_URL at that server, migrate, then move the data to the cluster.")
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        core = await Core.create(settings, store)
        print(f"migrate: key layout v1 -> v{LAYOUT_VERSION}, in place (safe to stop and run again)", flush=True)
        report = await migrate_v1_to_v2(core, batch=batch, allow_running=force,
                                        progress=lambda step, _: print(f"  {step}: done", flush=True))
    finally:
        await store.close()
    print(f"migrate: {report.line()}", flush=True)
    if report.unknown:
        print("migrate: keys of no known layout were left alone: "
              + ", ".join(f"{k}:* ({n})" for k, n in sorted(report.unknown.items())), flush=True)
    return 0


def migrate_cli(batch: int = 200, force: bool = False) -> int:
    """Convert a key layout v1 dataset to v2 in place (every bot process stopped). Resumable."""
    from bot.core.errors import ServiceUnavailable
    from bot.core.migrate import MigrationError, MigrationRefused
    from bot.core.settings import SettingsError
    from bot.core.store import REDIS_ERRORS

    try:
        return asyncio.run(_migrate(batch, force))
    except MigrationRefused as err:
        print(f"soul-lab migrate: refused: {err}", flush=True)
        return 2
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except MigrationError as err:
        print(f"soul-lab migrate: stopped: {err}", flush=True)
        return 1
    except (ServiceUnavailable, *REDIS_ERRORS):
        print("soul-lab migrate: Redis is not reachable; every step is resumable: run migrate again", flush=True)
        return 1
    except KeyboardInterrupt:
        print("soul-lab migrate: interrupted; run migrate again to finish (it resumes)", flush=True)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Soul Lab fortune bot")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("run", help="run the platform adapters and the HTTP server")
    sub.add_parser("console", help="chat in this terminal (reads standard input line by line)")
    bc = sub.add_parser("broadcast", help="daily broadcast: status figures, pause, resume")
    bc.add_argument("action", choices=("status", "pause", "resume"))
    bc.add_argument("--json", action="store_true", help="print the figures as JSON")
    rk = sub.add_parser("rotate-keys", help="re-encrypt stored birth data under the current key")
    rk.add_argument("--batch", type=int, default=200, help="profiles per SCAN step")
    rk.add_argument("--cursor", type=int, default=0, help="resume from a printed SCAN cursor")
    bk = sub.add_parser("backup", help="snapshot Redis (every primary) into .rdb files; restore: "
                                       "docs/OPERATIONS-REDIS.md")
    bk.add_argument("--out", type=Path, default=None, help="directory for the files (default DATA_DIR/backups)")
    how = bk.add_mutually_exclusive_group()
    how.add_argument("--stream", action="store_true",
                     help="fetch each snapshot over the network with redis-cli --rdb (a remote server)")
    how.add_argument("--rdb", type=Path, default=None, metavar="PATH",
                     help="BGSAVE, then copy the dump file from PATH (where this machine sees the server's "
                          "data directory, e.g. a mounted volume; one server only)")
    bk.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each snapshot")
    sub.add_parser("reconcile", help="check every account's balance against its ledger (exit 1 if any differs)")
    mg = sub.add_parser("migrate", help="convert a key layout v1 dataset to v2 in place (stop the bot first)")
    mg.add_argument("--batch", type=int, default=200, help="keys per write batch")
    mg.add_argument("--force", action="store_true",
                    help="run although inbox partition leases are held (only when no bot process runs)")
    dc = sub.add_parser("discord", help="Discord: sync the slash commands now (also when unchanged)")
    dc.add_argument("action", choices=("sync",))
    op = sub.add_parser("ops", help="operators' commands, as /ops in the ops channels (e.g. `ops health`, "
                                     "`ops credits grant tg:1 5 reason --yes`); audited as local:<os user>")
    op.add_argument("words", nargs=argparse.REMAINDER, help="the command after /ops; --yes confirms, --lang en")
    args = parser.parse_args(argv)
    if args.cmd == "discord":
        from bot.handlers.discord.cli import sync_cli

        return sync_cli()
    if args.cmd == "ops":
        from bot.ops_cli import ops_cli

        return ops_cli(list(args.words))
    if args.cmd == "migrate":
        return migrate_cli(args.batch, args.force)
    if args.cmd == "rotate-keys":
        return rotate_keys_cli(args.batch, args.cursor)
    if args.cmd == "backup":
        from bot.core.store.backup import backup_cli

        return backup_cli(args.out, args.stream, args.rdb, args.timeout)
    if args.cmd == "reconcile":
        return reconcile_cli()
    if args.cmd == "broadcast":
        from bot.core.broadcast.cli import broadcast_cli

        return broadcast_cli(args.action, args.json)
    from bot.app import main_entry

    return main_entry({"run": "run", "console": "console"}.get(args.cmd or "", "auto"))


if __name__ == "__main__":
    sys.exit(main())
