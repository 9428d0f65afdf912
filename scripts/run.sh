#!/usr/bin/env bash
# Start the bot: install what it needs (first run only), then run it.
# No platform token: the terminal chat, on an embedded redis-server. Arguments go to
# `python -m bot` (e.g. `scripts/run.sh console`, `scripts/run.sh broadcast status`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m bot "$@"
