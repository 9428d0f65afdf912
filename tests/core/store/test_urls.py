"""REDIS_URL forms: each scheme parsed into the set-up it names; bad ones refused, the variable named."""

from __future__ import annotations

import pytest

from bot.core.settings import SettingsError, load_settings
from bot.core.store.urls import RedisTarget, parse_redis_url


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://user:pw@cache.example:6380/1",
                                 "unix:///var/run/redis.sock?db=2"])
def test_single_server_urls_are_kept_for_redis_py(url: str) -> None:
    target = parse_redis_url(url)
    assert target == RedisTarget("single", url=url, tls=url.startswith("rediss://"))


def test_cluster_url_lists_its_startup_nodes() -> None:
    target = parse_redis_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,redis-c")
    assert target.kind == "cluster" and not target.tls
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002), ("redis-c", 6379))
    assert target.username is None and target.password is None


def test_tls_cluster_url_with_credentials() -> None:
    target = parse_redis_url("rediss+cluster://bot:s%40cret@node-a:7000,node-b:7000/0")
    assert target.kind == "cluster" and target.tls
    assert (target.username, target.password) == ("bot", "s@cret")
    assert target.nodes == (("node-a", 7000), ("node-b", 7000))
    assert "s@cret" not in repr(target)  # a target may be logged; its password is not


def test_sentinel_url_names_the_sentinels_the_master_and_a_database() -> None:
    target = parse_redis_url("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/soulmaster/3")
    assert target.kind == "sentinel"
    assert target.nodes == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (target.service, target.db, target.password, target.username) == ("soulmaster", 3, "pw", None)
    assert parse_redis_url("redis+sentinel://127.0.0.1:5000/mymaster").db == 0


@pytest.mark.parametrize("url,problem", [
    ("http://127.0.0.1:6379", "must start with"),
    ("redis+cluster://", "at least one host"),
    ("redis+cluster://a:1,,b:2", "host:port"),
    ("redis+cluster://a:99999", "out of range"),
    ("redis+cluster://a:1/2", "only database 0"),
    ("redis+cluster://a:1?ssl_cert_reqs=none", "no query options"),
    ("redis+sentinel://a:26379", "master name"),
    ("redis+sentinel://a:26379/", "master name"),
    ("redis+sentinel://a:26379/my master", "master name may use"),
    ("redis+sentinel://a:26379/soulmaster/x", "database must be a number"),
    ("redis+sentinel://:hunter2@a:26379", "master name"),
])
def test_bad_urls_are_refused_with_the_variable_named_and_no_secret_echoed(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_redis_url(url)
    with pytest.raises(SettingsError) as info:
        load_settings({"REDIS_URL": url})
    assert "REDIS_URL" in str(info.value) and problem in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
                                 "redis+sentinel://127.0.0.1:26379/soulmaster", "redis://127.0.0.1:6379/0"])
def test_settings_accept_every_supported_scheme(url: str) -> None:
    assert load_settings({"REDIS_URL": f"  {url} "}).env.redis_url == url
    assert load_settings({"REDIS_URL": "  "}).env.redis_url is None
