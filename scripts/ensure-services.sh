#!/usr/bin/env bash
# The test suite starts its own PostgreSQL and Redis servers on free loopback ports;
# this makes sure their binaries are installed (Debian/Ubuntu packages), and chromium for the web UI test.
set -euo pipefail
need=()
pg_bin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && pg_bin="$d"
done
if [ -z "$pg_bin" ] && ! command -v initdb >/dev/null; then need+=(postgresql); fi
if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then need+=(redis-server); fi
# kcat (librdkafka): the non-Python client of the event-API test (tests/integration/test_kcat.py).
if ! command -v kcat >/dev/null; then need+=(kcat); fi
# The web UI's browser test drives Debian's chromium (browsers cannot be downloaded by playwright here).
# `--no-browser` (make demo): the demo needs no browser.
if [ "${1:-}" != --no-browser ] && [ ! -x /usr/bin/chromium ]; then need+=(chromium fonts-liberation); fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]} (binaries only; the suite starts its own servers) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "The tests need these packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
