"""Real multi-process Redis set-ups for tests: a 3-master Redis Cluster and a Sentinel set.

Both run real ``redis-server`` / ``redis-sentinel`` processes on free loopback ports in
temp dirs (nothing persists: ``--save ""``, no append-only file) and are stopped by
``cleanup()``. Start-up waits until the set-up is usable, so a test never races it:
the cluster until every node says ``cluster_state:ok``, the Sentinel set until the
replica is in sync and every Sentinel knows the primary and the replica.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["RedisCluster3", "RedisSentinelSet", "SENTINEL_MASTER"]

SENTINEL_MASTER = "soulmaster"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run scripts/bootstrap.sh dev (it installs it)")
    return found


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int, bus: bool = False) -> list[int]:
    """``count`` distinct free loopback ports; with ``bus`` each port + 10000 is free too
    (a cluster node also listens on its cluster bus port, port + 10000 by default)."""
    chosen: list[int] = []
    rng = random.Random()
    while len(chosen) < count:
        port = rng.randrange(20000, 40000)
        if port in chosen or (bus and any(abs(port - c) == 10000 for c in chosen)):
            continue
        if _bindable(port) and (not bus or _bindable(port + 10000)):
            chosen.append(port)
    return chosen


def _cli(port: int, *args: str, timeout: float = 5.0) -> str:
    out = subprocess.run([_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout


def _replicated_once(port: int) -> bool:
    """A write and ``WAIT 1`` on one connection to the primary on ``port``: True once a replica
    acknowledged it. The first ``WAIT`` after a replica synced can take most of a second
    (seen with Redis 7.0); a set is ready for tests only once that is behind it."""
    out = subprocess.run([_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(port)],
                         input="SET soul:warmup 1 PX 5000\nWAIT 1 5000\n", capture_output=True, text=True,
                         timeout=10).stdout.split()
    return out[-1:] == ["1"]


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class _Procs:
    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, port: int, args: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        log = open(cwd / "server.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.procs[port] = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT)
        finally:
            log.close()

    def wait_ping(self, port: int, timeout: float = 10.0) -> None:
        def ok() -> bool:
            proc = self.procs[port]
            if proc.poll() is not None:
                raise RuntimeError(f"redis on port {port} exited with {proc.returncode}; see {self.dir}")
            return _cli(port, "PING").strip() == "PONG"
        _wait(f"redis on port {port}", ok, timeout)

    def pause(self, port: int) -> None:
        """SIGSTOP: the process keeps its sockets open but answers nothing (a hung server)."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def cleanup(self) -> None:
        for proc in self.procs.values():
            _stop(proc)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster3:
    """Three cluster-enabled masters holding all 16384 slots between them, by default without
    replicas; ``RedisCluster3(replicas=1)`` gives each master one replica (six nodes).

    ``url`` is a ``redis+cluster://`` URL naming every node as a startup node. ``flushall()``
    empties every master (FLUSHALL is per node in a cluster).
    """

    def __init__(self, replicas: int = 0) -> None:
        self.replicas = replicas
        self.ports = _ports(3 * (1 + replicas), bus=True)
        self._procs = _Procs("soul-lab-cluster-")

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def _node(self, port: int) -> None:
        node_dir = self._procs.dir / str(port)
        self._procs.spawn(port, [
            _binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
            "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", "2000", "--appendonly", "no", "--save", "",
            "--daemonize", "no", "--loglevel", "warning", "--repl-diskless-sync-delay", "0",
        ], node_dir)

    def _wait_ok(self, timeout: float = 30) -> None:
        _wait("cluster_state:ok on every node",
              lambda: all("cluster_state:ok" in _cli(p, "CLUSTER", "INFO") for p in self.ports), timeout)

    def start(self) -> RedisCluster3:
        try:
            for port in self.ports:
                self._node(port)
            for port in self.ports:
                self._procs.wait_ping(port)
            created = subprocess.run(
                [_binary("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=60,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
            self._wait_ok()
            if self.replicas:
                _wait("every replica known and in sync", self._replicas_in_sync, 30)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _roles(self) -> dict[int, int | None]:
        """Each node's port -> its master's port (None for a master), from CLUSTER NODES."""
        ids: dict[str, int] = {}
        masters: dict[int, str] = {}
        for line in _cli(self.ports[0], "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            ids[fields[0]] = port
            masters[port] = fields[3]
        return {port: (None if master == "-" else ids.get(master)) for port, master in masters.items()}

    def _replicas_in_sync(self) -> bool:
        replicas = self.replica_ports()  # as the first node sees it (gossip takes a moment)
        return len(replicas) == 3 * self.replicas and all(
            "master_link_status:up" in _cli(p, "INFO", "replication") for p in replicas) and all(
            _cli(p, "INFO", "replication").count("state=online") == self.replicas and _replicated_once(p)
            for p in self.master_ports())

    def master_ports(self) -> list[int]:
        return sorted(p for p, m in self._roles().items() if m is None)

    def replica_ports(self) -> list[int]:
        return sorted(p for p, m in self._roles().items() if m is not None)

    def replica_of(self, master_port: int) -> int:
        return next(p for p, m in self._roles().items() if m == master_port)

    def pause_node(self, port: int) -> None:
        """SIGSTOP one node (a replica that stops acknowledging); ``resume_node`` undoes it."""
        self._procs.pause(port)

    def resume_node(self, port: int) -> None:
        self._procs.resume(port)

    def kill_node(self, port: int) -> None:
        """SIGKILL one master: its slots have no server until ``restart_node``; once the other
        nodes mark it failed (node timeout 2 s) they answer CLUSTERDOWN."""
        self._procs.kill(port)

    def restart_node(self, port: int) -> None:
        """Start a killed master again (same port, same nodes file: it takes its slots back,
        empty) and wait until every node says ``cluster_state:ok``."""
        self._node(port)
        self._procs.wait_ping(port)
        self._wait_ok()

    def flushall(self) -> None:
        for port in self.master_ports() if self.replicas else self.ports:
            _cli(port, "FLUSHALL")

    def cleanup(self) -> None:
        for port in list(self._procs.procs):
            self._procs.resume(port)  # a paused node cannot be terminated gracefully
        self._procs.cleanup()


class RedisSentinelSet:
    """A primary, one replica (``--replicaof``) and ``sentinels`` (1 or 3) Sentinels watching it
    under the name ``soulmaster`` with a short ``down-after-milliseconds`` (500) and
    ``failover-timeout`` (2000), so ``kill_primary()`` leads to a promoted replica in a few seconds.

    ``url`` is ``redis+sentinel://127.0.0.1:S1[,…]/soulmaster``. After ``kill_primary()`` the
    set keeps working on the promoted replica (with no replica of its own): a session-scoped
    fixture can hand it on, but only one test per session should kill the primary.
    """

    def __init__(self, sentinels: int = 1) -> None:
        if sentinels not in (1, 3):
            raise ValueError("use 1 or 3 sentinels")
        ports = _ports(2 + sentinels)
        self.primary_port, self.replica_port = ports[0], ports[1]
        self.sentinel_ports = ports[2:]
        self.quorum = 1 if sentinels == 1 else 2
        self._procs = _Procs("soul-lab-sentinel-")

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports) + f"/{SENTINEL_MASTER}"

    def _server(self, port: int, *extra: str) -> None:
        node_dir = self._procs.dir / str(port)
        self._procs.spawn(port, [
            _binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
            "--appendonly", "no", "--save", "", "--daemonize", "no", "--loglevel", "warning",
            # Redis 7 waits 5 s before a diskless full sync by default; a test set-up need not.
            "--repl-diskless-sync-delay", "0", *extra,
        ], node_dir)

    def _sentinel(self, port: int) -> None:
        node_dir = self._procs.dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        conf = node_dir / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {node_dir}\n"
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 500\n"
            f"sentinel failover-timeout {SENTINEL_MASTER} 2000\n"
            f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
            encoding="utf-8",
        )
        sentinel = shutil.which("redis-sentinel")
        # redis-sentinel is redis-server under another name; without it, --sentinel does the same.
        args = [sentinel, str(conf)] if sentinel else [_binary("redis-server"), str(conf), "--sentinel"]
        self._procs.spawn(port, [*args, "--loglevel", "warning"], node_dir)

    def start(self) -> RedisSentinelSet:
        try:
            self._server(self.primary_port)
            self._procs.wait_ping(self.primary_port)
            self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
            self._procs.wait_ping(self.replica_port)
            # In sync from both sides: the replica's link is up, and the primary has put it
            # online (after a diskless sync only on its first ACK, up to a second later; until
            # then WAIT does not count it).
            _wait("the replica to sync",
                  lambda: "master_link_status:up" in _cli(self.replica_port, "INFO", "replication")
                  and "state=online" in _cli(self.primary_port, "INFO", "replication")
                  and _replicated_once(self.primary_port), 20)
            for port in self.sentinel_ports:
                self._sentinel(port)
            for port in self.sentinel_ports:
                self._procs.wait_ping(port)
            # Sentinels learn about the replica from the primary's INFO (and about each other
            # through hello messages): wait until each knows the whole set.
            _wait("the sentinels to see the replica and each other", self._sentinels_ready, 30)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            replicas = _cli(port, "SENTINEL", "REPLICAS", SENTINEL_MASTER)
            if str(self.replica_port) not in replicas:
                return False
            if len(self.sentinel_ports) > 1:
                others = _cli(port, "SENTINEL", "SENTINELS", SENTINEL_MASTER)
                if sum(str(p) in others for p in self.sentinel_ports if p != port) < len(self.sentinel_ports) - 1:
                    return False
        return True

    def primary_address(self) -> tuple[str, int]:
        """The primary as the first Sentinel reports it now."""
        host, port = _cli(self.sentinel_ports[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER).split()
        return host, int(port)

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no goodbye to anyone); returns its port."""
        _, port = self.primary_address()
        self._procs.kill(port)
        return port

    def pause_replica(self) -> None:
        """SIGSTOP the replica: still connected to the primary (for ``repl-timeout``, 60 s),
        but it acknowledges nothing, so ``WAIT`` on the primary times out. The Sentinels see
        it down; no failover follows (the primary is fine). ``resume_replica`` undoes it."""
        self._procs.pause(self.replica_port)

    def resume_replica(self) -> None:
        self._procs.resume(self.replica_port)

    def replica_get(self, key: str) -> str:
        """``GET key`` on the replica itself (what a failover would promote)."""
        return _cli(self.replica_port, "GET", key).strip()

    def flushall(self) -> None:
        _cli(self.primary_address()[1], "FLUSHALL")

    def cleanup(self) -> None:
        for port in list(self._procs.procs):
            self._procs.resume(port)
        self._procs.cleanup()
