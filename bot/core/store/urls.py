"""``REDIS_URL`` parsing: which Redis set-up to connect to. Pure (no I/O, no redis import).

Supported forms:

- ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS), ``unix:///path?db=N``:
  one server, parsed by redis-py itself (query options as redis-py documents them).
- ``redis+cluster://[[user]:password@]host:port[,host:port…][/0]``: a Redis Cluster; the
  hosts are startup nodes (any reachable one is enough; the client learns the rest).
  ``rediss+cluster://`` is the same over TLS (certificates checked against the system's
  trust store). Only database 0 exists in a cluster.
- ``redis+sentinel://[[user]:password@]host:port[,host:port…]/<master name>[/db]``: Redis
  Sentinel; the hosts are Sentinels, ``<master name>`` the name they monitor. The user and
  password are for the Redis primary (the Sentinels themselves are reached without one).

A missing port means 6379 for cluster nodes and 26379 for Sentinels. Query options are not
supported on the cluster and Sentinel forms. Error messages never repeat the URL (it may
hold a password).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

__all__ = ["RedisTarget", "parse_redis_url", "SINGLE_SCHEMES", "CLUSTER_SCHEMES", "SENTINEL_SCHEMES"]

SINGLE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel",)

_HOST_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


@dataclass(frozen=True)
class RedisTarget:
    """What a ``REDIS_URL`` names. ``url`` is kept for the single-server kinds (redis-py parses it)."""

    kind: Literal["single", "cluster", "sentinel"]
    url: str = ""
    nodes: tuple[tuple[str, int], ...] = ()
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    service: str | None = None
    db: int = 0


def _nodes(hosts: str, default_port: int, what: str) -> tuple[tuple[str, int], ...]:
    found: list[tuple[str, int]] = []
    for part in hosts.split(","):
        match = _HOST_RE.match(part.strip())
        if not match:
            raise ValueError(f"{what}: each node must be host:port (got an empty or malformed one)")
        port = int(match["port"]) if match["port"] else default_port
        if not 0 < port < 65536:
            raise ValueError(f"{what}: port {port} is out of range")
        found.append((match["v6"] or match["host"], port))
    return tuple(found)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, sep, password = userinfo.partition(":")
    if not sep:  # "secret@host" is how redis-py reads a password without a user, too
        return None, unquote(user) or None
    return unquote(user) or None, unquote(password) or None


def _db(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 4:
        raise ValueError(f"{what}: the database must be a number")
    return int(text)


def parse_redis_url(url: str) -> RedisTarget:
    """The set-up ``url`` names; raises ``ValueError`` (naming the problem, not the URL)."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SINGLE_SCHEMES + CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        raise ValueError("must start with redis://, rediss://, unix://, redis+cluster://, "
                         "rediss+cluster:// or redis+sentinel://")
    if scheme in SINGLE_SCHEMES:
        return RedisTarget("single", url=url.strip(), tls=scheme == "rediss")
    if "?" in rest or "#" in rest:
        raise ValueError(f"{scheme}:// takes no query options")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    username, password = _credentials(userinfo)
    if not hosts:
        raise ValueError(f"{scheme}:// needs at least one host:port")
    if scheme in CLUSTER_SCHEMES:
        nodes = _nodes(hosts, 6379, scheme + "://")
        if path not in ("", "0"):
            raise ValueError(f"{scheme}:// has only database 0")
        return RedisTarget("cluster", nodes=nodes, tls=scheme == "rediss+cluster",
                           username=username, password=password)
    nodes = _nodes(hosts, 26379, scheme + "://")
    service, _, db_text = path.partition("/")
    service = unquote(service)
    if not service:
        raise ValueError(f"{scheme}:// needs the master name: {scheme}://host:port/<master name>")
    if not _NAME_RE.match(service):
        raise ValueError(f"{scheme}://: the master name may use letters, digits and . _ : - only")
    db = _db(db_text, scheme + "://") if db_text else 0
    return RedisTarget("sentinel", nodes=nodes, username=username, password=password,
                       service=service, db=db)
