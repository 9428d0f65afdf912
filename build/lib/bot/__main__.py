"""``python -m bot [run|console|broadcast status|pause|resume]``.

With no subcommand: the console chat when no platform token is set, else the platforms.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Soul Lab fortune bot")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("run", help="run the platform adapters and the HTTP server")
    sub.add_parser("console", help="chat in this terminal (reads standard input line by line)")
    bc = sub.add_parser("broadcast", help="daily broadcast: status figures, pause, resume")
    bc.add_argument("action", choices=("status", "pause", "resume"))
    bc.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.cmd == "broadcast":
        from bot.core.broadcast.cli import broadcast_cli

        return broadcast_cli(args.action, args.json)
    from bot.app import main_entry

    return main_entry({"run": "run", "console": "console"}.get(args.cmd or "", "auto"))


if __name__ == "__main__":
    sys.exit(main())
