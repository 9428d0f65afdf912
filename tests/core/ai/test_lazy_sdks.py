"""The AI SDKs load on first use, and never without a key.

Each case runs in a fresh interpreter: other tests in this session import ``openai`` and
``anthropic``, so ``sys.modules`` here would say nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path

from bot.core.router import Event
from tests.support.factory import make_core, onboard
from tests.support.platform import handle_delivered

SDKS = ("openai", "anthropic")


def loaded():
    return sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in SDKS})


async def main(url, tmp, env):
    core = make_core(url, Path(tmp), **env)
    out = {"after_build": loaded()}
    await onboard(core, "tg:91")
    fortune = await handle_delivered(core, Event("tg", "91", "/fortune", chat_id="91"))
    out["after_fortune"] = loaded()
    ask = await handle_delivered(core, Event("tg", "91", "/ask 요즘 일이 잘 풀릴까요?", chat_id="91"))
    out["after_ask"] = loaded()
    out["chain_built"] = core.ai is not None
    out["fortune"] = [r.text for r in fortune]
    out["ask"] = [r.text for r in ask]
    if core.ai is not None:
        await core.ai.aclose()
    await core.store.close()
    print(json.dumps(out))


asyncio.run(main(sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
"""


def run_case(redis_url: str, tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT), redis_url, str(tmp_path), json.dumps(env)],
                          capture_output=True, text=True, timeout=120, env=clean, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_key_no_sdk_import(redis_url: str, tmp_path: Path) -> None:
    out = run_case(redis_url, tmp_path, {})
    assert out["after_build"] == out["after_fortune"] == out["after_ask"] == []
    assert out["chain_built"] is True  # /ask did go through the AI chain (static text: no provider)
    assert out["fortune"] and all(out["fortune"]) and out["ask"] and all(out["ask"])


def test_sdk_loads_on_first_use_of_its_own_key(redis_url: str, tmp_path: Path) -> None:
    # An OpenAI key (its server unreachable: the answer falls back to the static text).
    out = run_case(redis_url, tmp_path, {"OPENAI_API_KEY": "sk-test",
                                         "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"})
    assert out["after_build"] == out["after_fortune"] == []
    assert out["after_ask"] == ["openai"]  # never anthropic: no key for it
    assert out["ask"] and all(out["ask"])
