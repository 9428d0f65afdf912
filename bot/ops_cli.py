"""``python -m bot ops <command …> [--yes] [--lang ko|en]``: the ops commands from a terminal.

The terminal is a local operator with access to the configured Redis: trusted (no admin or
channel rule), audited as ``local:<os user>``, running the same ops core as every chat surface
(``core.ops.run``). A dangerous command asks "실행할까요? / Run it?" on the terminal (or is
confirmed at once with ``--yes``), through the same single-use confirmation token. A chart is
written to ``DATA_DIR/ops/`` and its path printed. Exit status: 0 done, 1 refused or failed
(the reply says why), 2 bad configuration.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from pathlib import Path

from bot.core.reply import Reply

__all__ = ["ops_cli"]


def _print(replies: list[Reply], data_dir: Path) -> None:
    for reply in replies:
        print(reply.text, flush=True)
        if reply.image is not None:
            out = data_dir / "ops"
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{int(time.time())}-{reply.image.filename}"
            path.write_bytes(reply.image.png)
            print(f"[chart] {path}", flush=True)


def _confirm_token(replies: list[Reply]) -> str:
    for reply in replies:
        for button in reply.all_buttons():
            if button.command.startswith("/ops confirm "):
                return button.command.removeprefix("/ops confirm ").strip()
    return ""


async def _run(words: list[str], yes: bool, lang: str) -> int:
    from bot.app import build_core
    from bot.core.logs import configure_logging
    from bot.core.ops import OpsCaller
    from bot.core.settings import load_settings

    settings = load_settings()
    configure_logging(settings.env.log_level, stream=sys.stderr)
    core = await build_core(settings)
    try:
        assert core.ops is not None
        caller = OpsCaller("local", f"local:{getpass.getuser()}", "", trusted=True, lang=lang)
        replies = await core.ops.run(caller, " ".join(words))
        _print(replies, settings.env.data_dir)
        token = _confirm_token(replies)
        if token:
            go = yes
            if not go:
                try:
                    answer = await asyncio.to_thread(input, "실행할까요? / Run it? [y/N] ")
                except EOFError:
                    answer = ""
                go = answer.strip().lower() in ("y", "yes", "예", "ㅇ")
            replies = await core.ops.run(caller, f"{'confirm' if go else 'cancel'} {token}")
            _print(replies, settings.env.data_dir)
        return 1 if any(r.error is not None for r in replies) else 0
    finally:
        if core.ai is not None:
            await core.ai.aclose()
        await core.store.close()


def ops_cli(words: list[str]) -> int:
    """Entry point for ``python -m bot ops``; ``words`` may hold ``--yes`` and ``--lang xx``."""
    from bot.core.errors import ServiceUnavailable
    from bot.core.settings import SettingsError
    from bot.core.store import REDIS_ERRORS

    yes = "--yes" in words or "-y" in words
    lang = "ko"
    rest: list[str] = []
    skip = False
    for i, w in enumerate(words):
        if skip:
            skip = False
            continue
        if w in ("--yes", "-y"):
            continue
        if w == "--lang" and i + 1 < len(words):
            lang, skip = ("en" if words[i + 1].startswith("en") else "ko"), True
            continue
        rest.append(w)
    try:
        return asyncio.run(_run(rest or ["help"], yes, lang))
    except SettingsError as err:
        print(f"soul-lab: {err}", flush=True)
        return 2
    except (ServiceUnavailable, *REDIS_ERRORS):
        print("soul-lab ops: Redis is not reachable; nothing was changed", flush=True)
        return 1
