#!/usr/bin/env bash
# What `npm test` needs beyond npm, made ready before it runs: Debian's chromium for the
# dashboard's browser tests (installed with apt-get when run as root, as on CI and on a fresh
# machine of this kind; otherwise it says what to install), and a nats-server 2.11 or later for
# the JetStream tests (scripts/nats-server.sh: fetched from Debian into .cache/nats, no root).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "npm test: installing Debian's chromium for the dashboard's browser tests" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "npm test needs Debian's chromium for the dashboard's browser tests: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
"$(dirname "$0")/nats-server.sh" > /dev/null
