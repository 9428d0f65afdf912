#!/usr/bin/env bash
# Install what Soul Lab needs on a Debian/Ubuntu machine, then the Python virtualenv.
# Usage: scripts/bootstrap.sh [dev]   (dev adds the test tools, redis-cli, redis-sentinel and promtool)
# System packages are installed only when missing, and only as root (or with sudo -n);
# otherwise the script says what to install and carries on.
set -euo pipefail
cd "$(dirname "$0")/.."

want=()
command -v python3 >/dev/null 2>&1 || want+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || want+=(python3-venv)
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
if [ "${1:-}" = dev ]; then
  # The cluster and Sentinel tests (tests/support/redis_cluster.py): redis-cli (redis-tools)
  # creates the cluster; redis-sentinel is its own package on Debian/Ubuntu.
  command -v redis-cli >/dev/null 2>&1 || want+=(redis-tools)
  command -v redis-sentinel >/dev/null 2>&1 || want+=(redis-sentinel)
  # promtool (Debian's prometheus package) checks and unit-tests deploy/prometheus/alerts.yml.
  # The package's service is not started here (no init system in containers; harmless elsewhere).
  command -v promtool >/dev/null 2>&1 || want+=(prometheus)
fi
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || want+=(fonts-nanum)

if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
  if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${want[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  else
    echo "bootstrap: please install: ${want[*]} (e.g. sudo apt-get install ${want[*]})" >&2
  fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Soul Lab needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$( (cat pyproject.toml; echo "${1:-}") | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "${1:-}" = dev ]; then
    .venv/bin/python -m pip install -q -e '.[dev]'
  else
    .venv/bin/python -m pip install -q -e .
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
