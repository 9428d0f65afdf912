"""deploy/prometheus/alerts.yml: the /ops alert thresholds of config/defaults.toml over the
metric names the bot really exports, valid for promtool, and firing in promtool's own unit tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.metrics import Metrics
from bot.core.settings import load_settings

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
OPS_ALERTS = {"latency_p95", "error_rate", "redis_down", "ai_fallback", "broadcast_behind", "ai_spend_cap"}


def rules() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((RULES_DIR / "alerts.yml").read_text(encoding="utf-8"))
    return {r["alert"]: r for group in doc["groups"] for r in group["rules"]}


def minutes(seconds: float) -> str:
    assert seconds % 60 == 0, "Prometheus durations here are whole minutes"
    return f"{int(seconds // 60)}m"


def number(value: float) -> str:
    return f"{value:g}"


def test_every_ops_alert_has_a_rule() -> None:
    from bot.core.ops.alerts import ALERTS

    assert set(ALERTS) == OPS_ALERTS
    assert {r["labels"]["ops_alert"] for r in rules().values()} == OPS_ALERTS


def test_thresholds_are_the_ones_in_config_defaults() -> None:
    a = load_settings({"APP_ENV": "test"}).product.alerts
    window, pending = minutes(a.window_seconds), minutes(a.pending_seconds)
    r = rules()
    latency = r["SoulLabResponseTimeP95High"]
    assert f"[{window}]))) > {number(a.response_time_ms / 1000)}\n" in latency["expr"]
    assert f">= {a.min_requests}" in latency["expr"] and latency["for"] == pending
    errors = r["SoulLabErrorRateHigh"]
    assert f"> {number(a.error_rate)}\n" in errors["expr"] and f">= {a.min_requests}" in errors["expr"]
    assert errors["for"] == pending
    assert re.search(rf"\[{window}\]\)\) >= {a.ai_fallback_min}$", r["SoulLabAIFallbackActive"]["expr"].strip())
    assert r["SoulLabRedisDown"]["for"] == pending and r["SoulLabAIBreakerOpen"]["for"] == pending
    behind = r["SoulLabBroadcastBehind"]
    assert behind["for"] == minutes(a.broadcast_behind_minutes * 60 + a.pending_seconds)
    for rule in r.values():  # every window is the configured one (the spend cap's too)
        assert set(re.findall(r"\[(\w+)\]", rule["expr"])) <= {window}


def test_every_metric_in_the_rules_is_exported_by_the_bot() -> None:
    exported: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            exported.add(family.name + "_total")
        elif family.type == "histogram":
            exported |= {family.name + s for s in ("_bucket", "_count", "_sum")}
        else:
            exported.add(family.name)
    used = {m for rule in rules().values() for m in re.findall(r"\bsoul_lab_\w+", rule["expr"])}
    assert used and used <= exported, used - exported


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (Debian: apt-get install prometheus; scripts/bootstrap.sh dev does)")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=RULES_DIR,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 7 rules found" in check.stdout
    unit = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=RULES_DIR,
                          capture_output=True, text=True, timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr
