"""A private ``redis-server`` for zero-setup runs (no ``REDIS_URL``).

Data lives under ``DATA_DIR/redis`` with the append-only file on and eviction off
(``noeviction``: the start-up check in ``bot.core.store.safety`` expects both), the server listens on a
unix socket only (no TCP port), and it is stopped when the bot exits. The binary is looked
up on PATH; when there is none the caller refuses to start, saying how to install it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

__all__ = ["EmbeddedRedis", "find_redis_server"]


def find_redis_server() -> str | None:
    """The ``redis-server`` on PATH, if any."""
    return shutil.which("redis-server")


class EmbeddedRedis:
    """Starts and stops one redis-server process bound to a unix socket."""

    def __init__(self, data_dir: Path, binary: str) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.binary = binary
        self.socket = self.dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self, timeout: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # stale socket from a crashed run
        args = [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.dir / "redis.log"),
        ]
        # Popen only forks and returns; waiting for readiness below is async.
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}; see {self.dir}/redis.log")
            if self.socket.exists():
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None
