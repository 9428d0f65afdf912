"""``python -m bot backup``: a consistent RDB snapshot of every Redis primary, copied out.

Three ways to get the file (restore: docs/OPERATIONS-REDIS.md):

- **copy** (default): ``BGSAVE`` on each primary, waiting for it by ``LASTSAVE`` (before and
  after), then the file the server wrote (``CONFIG GET dir`` + ``dbfilename``) is copied into
  ``--out`` — when that path is readable on this machine (the embedded server, a Redis on
  the same host). The copy is checked to be the one just written (modified after the save
  began) and to start with the RDB magic ``REDIS``.
- **--rdb PATH** (one server or Sentinel only): as copy, but the dump file is read from
  ``PATH`` — where this machine sees the server's data directory under another name (a
  mounted volume, a container's bind mount).
- **--stream**: no ``BGSAVE``; ``redis-cli --rdb <file>`` asks each primary for a fresh
  snapshot over the network, the way a new replica gets one (the server forks and sends
  it; nothing is written on the server). For a remote server. Needs the ``redis-cli``
  binary here and a server that allows ``SYNC``/``PSYNC`` to this user (many managed
  services do not: use their own snapshot feature then). A password is passed to redis-cli
  in ``REDISCLI_AUTH``, never on its command line.

Each file is an RDB of that primary's whole data set at one moment (a fork's point in time):
consistent per node. On a Redis Cluster each primary is snapshotted in turn, so the files
are not one cluster-wide instant; every money change touches one slot's keys in one script
(or is idempotent and re-driven), so each file is self-consistent for what it holds.

Files are named ``redis-<node>-<UTC time>.rdb`` and written atomically (``.part`` then
rename). Read-only for Redis apart from the ``BGSAVE``. Redis down: ``REDIS_ERRORS`` (the CLI
says so and exits 1); a file that cannot be reached or a failed save: ``BackupError`` (exit 1).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from redis.exceptions import ResponseError

from bot.core.store.connection import Store
from bot.core.store.nodes import Primary, primaries

__all__ = ["BackupError", "Snapshot", "backup", "backup_cli"]

RDB_MAGIC = b"REDIS"
POLL_SECONDS = 0.1

Mode = Literal["copy", "stream"]


class BackupError(RuntimeError):
    """A snapshot could not be taken or fetched; the message says which node and why."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    node: str
    path: Path
    size: int
    saved_at: int  # unix seconds: the server's LASTSAVE (copy) or when the stream ended
    how: str  # "copied from <path>" | "streamed with redis-cli --rdb"

    def line(self) -> str:
        when = datetime.fromtimestamp(self.saved_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.node}: {self.path} ({self.size} bytes, snapshot of {when}, {self.how})"


async def _wait(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise BackupError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def _bgsave(node: Primary, timeout: float) -> tuple[int, int]:
    """``BGSAVE`` and wait for it; returns (LASTSAVE before, LASTSAVE after) in unix seconds.

    A save already running may have started before this call, so it is waited out and a new
    one started. LASTSAVE has one-second resolution: the save is started only once the
    server's clock is past the previous LASTSAVE, so "LASTSAVE moved" always means ours.
    ``BGSAVE SCHEDULE`` lets an append-only rewrite in progress finish first.
    """
    async def idle() -> bool:
        return int((await node.call("info", "persistence")).get("rdb_bgsave_in_progress", 0)) == 0

    async def lastsave() -> int:
        # LASTSAVE, as INFO reports it (rdb_last_save_time): redis-py turns the LASTSAVE
        # reply into a naive local datetime, which is ambiguous around a DST change.
        return int((await node.call("info", "persistence"))["rdb_last_save_time"])

    await _wait(f"{node.name}: a running save to finish", idle, timeout)
    before = await lastsave()
    sec, usec = await node.call("time")
    if int(sec) <= before:
        await asyncio.sleep(before + 1 - (int(sec) + int(usec) / 1e6) + 0.01)
    try:
        await node.call("bgsave", True)
    except ResponseError as exc:
        if "already in progress" not in str(exc):
            raise
        await _wait(f"{node.name}: a running save to finish", idle, timeout)  # started by someone else
        await node.call("bgsave", True)

    async def done() -> bool:
        return await lastsave() > before and await idle()

    try:
        await _wait(f"{node.name}: BGSAVE", done, timeout)
    except BackupError:
        status = (await node.call("info", "persistence")).get("rdb_last_bgsave_status")
        raise BackupError(f"{node.name}: BGSAVE did not finish (last status: {status}); see the server log") \
            from None
    return before, await lastsave()


def _file_name(node: str, at: float) -> str:
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in node)
    return f"redis-{safe}-{datetime.fromtimestamp(at, UTC).strftime('%Y%m%dT%H%M%SZ')}.rdb"


def _check_rdb(path: Path, node: str) -> int:
    with path.open("rb") as f:
        head = f.read(len(RDB_MAGIC))
    if head != RDB_MAGIC:
        path.unlink(missing_ok=True)
        raise BackupError(f"{node}: the file is not an RDB snapshot (no REDIS header)")
    return path.stat().st_size


async def _copy(node: Primary, out: Path, rdb_path: Path | None, timeout: float) -> Snapshot:
    if rdb_path is None:
        try:
            conf = {**await node.call("config_get", "dir"), **await node.call("config_get", "dbfilename")}
        except ResponseError as exc:
            raise BackupError(f"{node.name}: CONFIG is refused ({exc}), so the dump file cannot be found; "
                              "use --stream or the provider's snapshots") from None
        src = Path(str(conf["dir"])) / str(conf["dbfilename"])
    else:
        src = rdb_path
    before, saved = await _bgsave(node, timeout)
    if not src.is_file():
        raise BackupError(f"{node.name}: the snapshot was saved on the server, but {src} is not on this "
                          "machine; run the backup with --stream (or --rdb PATH where that directory is "
                          "mounted here)")
    if src.stat().st_mtime < before + 1:
        raise BackupError(f"{node.name}: {src} is older than the snapshot just taken, so it is not this "
                          "server's dump file; run with --stream or give --rdb the right PATH")
    dest = out / _file_name(node.name, saved)
    part = dest.with_name(dest.name + ".part")
    try:
        await asyncio.to_thread(shutil.copyfile, src, part)
        size = _check_rdb(part, node.name)
        os.replace(part, dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise BackupError(f"{node.name}: cannot copy {src} to {dest}: {exc.strerror or exc}") from None
    return Snapshot(node.name, dest, size, saved, f"copied from {src}")


async def _stream(node: Primary, out: Path, timeout: float) -> Snapshot:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise BackupError("--stream needs the redis-cli binary (Debian/Ubuntu: apt-get install redis-tools)")
    now = time.time()
    dest = out / _file_name(node.name, now)
    part = dest.with_name(dest.name + ".part")
    args = [cli, "-s", node.socket] if node.socket else [cli, "-h", str(node.host), "-p", str(node.port)]
    if node.username:
        args += ["--user", node.username]
    if node.tls:
        args.append("--tls")
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    if node.password:
        env["REDISCLI_AUTH"] = node.password
    proc = await asyncio.create_subprocess_exec(*args, "--rdb", str(part), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        part.unlink(missing_ok=True)
        raise BackupError(f"{node.name}: redis-cli --rdb took longer than {timeout:g} s") from None
    if proc.returncode != 0 or not part.is_file():
        part.unlink(missing_ok=True)
        raise BackupError(f"{node.name}: redis-cli --rdb failed: {err.decode(errors='replace').strip()[-300:]}")
    size = _check_rdb(part, node.name)
    os.replace(part, dest)
    return Snapshot(node.name, dest, size, int(time.time()), "streamed with redis-cli --rdb")


async def backup(store: Store, out: Path, *, mode: Mode = "copy", rdb_path: Path | None = None,
                 timeout: float = 600.0) -> list[Snapshot]:
    """Snapshot every primary into ``out`` (created if missing); see the module for the modes."""
    nodes = await primaries(store)
    if rdb_path is not None and (mode != "copy" or len(nodes) != 1):
        raise BackupError("--rdb PATH names one dump file: it works with one server (or Sentinel), "
                          "not with --stream or a cluster")
    try:
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {out}: {exc.strerror or exc}") from None
    done = []
    for node in nodes:
        if mode == "stream":
            done.append(await _stream(node, out, timeout))
        else:
            done.append(await _copy(node, out, rdb_path, timeout))
    return done


async def _run(out: Path | None, mode: Mode, rdb_path: Path | None, timeout: float) -> int:
    from bot.core.logs import configure_logging
    from bot.core.settings import load_settings
    from bot.core.store import open_store

    settings = load_settings()
    configure_logging(settings.env.log_level)
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        target = out if out is not None else settings.env.data_dir / "backups"
        try:
            snapshots = await backup(store, target, mode=mode, rdb_path=rdb_path, timeout=timeout)
        except BackupError as err:
            print(f"backup: failed: {err}", flush=True)
            return 1
    finally:
        await store.close()
    for snap in snapshots:
        print(f"backup: {snap.line()}", flush=True)
    print(f"backup: {len(snapshots)} file(s) written to {target}", flush=True)
    return 0


def backup_cli(out: Path | None = None, stream: bool = False, rdb_path: Path | None = None,
               timeout: float = 600.0) -> int:
    """``python -m bot backup``: 0 written, 1 failed (Redis down, file unreachable), 2 bad settings."""
    from bot.core.settings import SettingsError
    from bot.core.store.connection import REDIS_ERRORS

    try:
        return asyncio.run(_run(out, "stream" if stream else "copy", rdb_path, timeout))
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except REDIS_ERRORS as err:
        print(f"backup: Redis is not reachable ({type(err).__name__}); nothing was written", flush=True)
        return 1
