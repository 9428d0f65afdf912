#!/usr/bin/env bash
# The whole test suite: installs what it needs (redis-server, fonts, venv), then pytest.
# Each test session starts its own redis-server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exit 5 means "no tests collected": that is a broken suite here, never a pass.
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests — failing on purpose" >&2
  exit 1
fi
exit "$rc"
