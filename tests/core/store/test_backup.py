"""``python -m bot backup``: the snapshot files load in a fresh redis-server, by every mode, and
the restore steps of docs/OPERATIONS-REDIS.md (RDB in, then append-only on) keep the data."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.__main__ import main
from bot.core.store import Store
from bot.core.store.backup import BackupError, backup
from bot.core.store.connection import connect
from tests.support.redis_cluster import RedisCluster3
from tests.support.redis_proc import RedisProcess, free_port


class _Restored:
    """A redis-server started on a backup file, as the restore steps say."""

    def __init__(self, rdb: Path, appendonly: bool = False) -> None:
        self.dir = rdb.parent
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(shutil.which("redis-server")), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--dbfilename", rdb.name, "--appendonly", "yes" if appendonly else "no",
             "--save", "", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client.ping():
                    break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "restored redis-server did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _no_sync_delay(port: int) -> None:
    """A server sends a replica (and redis-cli --rdb) its snapshot only after
    ``repl-diskless-sync-delay`` (5 s by default, waiting for more replicas to share it)."""
    client = redis.Redis(port=port)
    client.config_set("repl-diskless-sync-delay", 0)
    client.close()


def _seed(client: redis.Redis) -> None:
    client.set("credits:{tg:1}", "13")
    client.hset("payment:tg:stxBACKUP", mapping={"status": "paid", "credits": "10"})
    client.xadd("inbox:{tg:p0}", {"c": "1", "s": "b:1"})


def _check(client: redis.Redis) -> None:
    assert client.get("credits:{tg:1}") == "13"
    assert client.hgetall("payment:tg:stxBACKUP") == {"status": "paid", "credits": "10"}
    assert client.xlen("inbox:{tg:p0}") == 1


async def test_copy_mode_writes_a_loadable_rdb_and_the_restore_steps_keep_it(redis_url: str,
                                                                             tmp_path: Path) -> None:
    source = redis.Redis.from_url(redis_url, decode_responses=True)
    _seed(source)
    store = Store(connect(redis_url), "url")
    try:
        [snap] = await backup(store, tmp_path / "out")
        source.set("credits:{tg:1}", "99")  # written after the snapshot: not in the file
        again = await backup(store, tmp_path / "out")  # a second backup right away is a new save
    finally:
        await store.close()
        source.close()
    assert snap.path.parent == tmp_path / "out" and snap.path.name.startswith("redis-127.0.0.1_")
    assert snap.path.suffix == ".rdb" and snap.size == snap.path.stat().st_size > 0
    assert "copied from" in snap.how and again[0].saved_at > snap.saved_at  # LASTSAVE moved: a new save
    assert not list((tmp_path / "out").glob("*.part"))

    # Restore, step by step: the file as the server's dbfilename with append-only off, ...
    restore_dir = tmp_path / "restore"
    restore_dir.mkdir()
    rdb = restore_dir / "dump.rdb"
    shutil.copyfile(snap.path, rdb)
    server = _Restored(rdb)
    try:
        _check(server.client)
        # ... then append-only on at run time, wait for its first rewrite, and keep the setting.
        server.client.config_set("appendonly", "yes")
        while any(int(server.client.info("persistence")[k]) for k in ("aof_rewrite_in_progress",  # noqa: ASYNC110
                                                                      "aof_rewrite_scheduled")):
            await asyncio.sleep(0.02)  # polling a server: nothing to wait on in-process
    finally:
        server.stop()
    server = _Restored(rdb, appendonly=True)  # restarted the normal way: loads the append-only file
    try:
        _check(server.client)
    finally:
        server.stop()


async def test_the_cli_streams_with_redis_cli_and_prints_what_it_wrote(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    source = redis.Redis.from_url(redis_url, decode_responses=True)
    _seed(source)
    source.close()
    _no_sync_delay(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    for name, value in {"APP_ENV": "test", "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(main, ["backup", "--stream", "--out", str(tmp_path / "streamed")])
    out = capsys.readouterr().out
    assert code == 0, out
    [rdb] = list((tmp_path / "streamed").glob("redis-*.rdb"))
    assert f"backup: 127.0.0.1:{redis_url.rsplit(':', 1)[1].split('/')[0]}: {rdb}" in out
    assert "streamed with redis-cli --rdb" in out and "1 file(s) written" in out
    server = _Restored(rdb)
    try:
        _check(server.client)
    finally:
        server.stop()


async def test_rdb_path_reads_the_dump_where_it_is_mounted_and_refuses_a_wrong_one(
        redis_server: RedisProcess, redis_url: str, tmp_path: Path) -> None:
    store = Store(connect(redis_url), "url")
    try:
        await store.redis.set("k", "v")
        # The server's directory as this machine sees it (here: the same path; a mount in real life).
        [snap] = await backup(store, tmp_path / "out", rdb_path=redis_server.dir / "dump.rdb")
        assert f"copied from {redis_server.dir / 'dump.rdb'}" in snap.how
        with pytest.raises(BackupError, match="not on this machine"):
            await backup(store, tmp_path / "out", rdb_path=tmp_path / "elsewhere" / "dump.rdb")
        stale = tmp_path / "stale.rdb"
        stale.write_bytes(b"REDIS0010")  # an old file at the given path: not the snapshot just taken
        old = time.time() - 3600
        os.utime(stale, (old, old))
        with pytest.raises(BackupError, match="older than the snapshot"):
            await backup(store, tmp_path / "out", rdb_path=stale)
    finally:
        await store.close()


@pytest.fixture
def cluster_data(redis_cluster: RedisCluster3) -> Iterator[RedisCluster3]:
    redis_cluster.flushall()
    yield redis_cluster
    redis_cluster.flushall()


async def test_a_cluster_gets_one_file_per_primary_holding_its_keys(cluster_data: RedisCluster3,
                                                                     tmp_path: Path) -> None:
    store = Store(connect(cluster_data.url), "url")
    keys = {f"key{i}": f"v{i}" for i in range(30)}
    try:
        for k, v in keys.items():
            await store.redis.set(k, v)
        for port in cluster_data.ports:
            _no_sync_delay(port)
        snaps = await backup(store, tmp_path / "out", mode="stream")
        assert sorted(s.node for s in snaps) == sorted(f"127.0.0.1:{p}" for p in cluster_data.ports)
        with pytest.raises(BackupError, match="one dump file"):
            await backup(store, tmp_path / "out", rdb_path=tmp_path / "dump.rdb")
    finally:
        await store.close()
    found: dict[str, str] = {}
    for snap in snaps:
        server = _Restored(snap.path)
        try:
            found.update({k: server.client.get(k) for k in server.client.keys("*")})
        finally:
            server.stop()
    assert found == keys  # every key in exactly the file of the primary that held it
