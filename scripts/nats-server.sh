#!/usr/bin/env bash
# Prints the path of a nats-server (2.11 or later) for the JetStream tests and benchmarks.
#
# $TIDEMARK_NATS_SERVER wins; then one on PATH that is new enough; else Debian's package from
# unstable (sid: bookworm's 2.9 acknowledges before any fsync and trixie's 2.10 can acknowledge a
# retried publish stored nowhere, see docs/jetstream.md) is downloaded with apt-get into
# .cache/nats/ and unpacked with dpkg-deb. It is a static Go program, so it runs here without
# installing anything else, and nothing outside .cache/ is touched (no root needed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/nats"
unpacked="$cache/root/usr/sbin/nats-server"

new_enough() { # <binary>: true for 2.11 or later
  local version
  version="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\.[0-9]*\).*/\1/p')" || return 1
  [ -n "$version" ] || return 1
  local major="${version%%.*}" minor="${version#*.}"
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 11 ]; }
}

if [ -n "${TIDEMARK_NATS_SERVER:-}" ]; then echo "$TIDEMARK_NATS_SERVER"; exit 0; fi
if [ -x "$unpacked" ]; then echo "$unpacked"; exit 0; fi
if command -v nats-server >/dev/null && new_enough "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi

mkdir -p "$cache/apt/sources" "$cache/apt/lists/partial" "$cache/apt/archives/partial"
cat > "$cache/apt/sources/sid.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$cache/apt/sources"
  -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt"
  -o "Dir::Cache::archives=$cache/apt/archives" -o "Debug::NoLocking=1" -qq)
echo "fetching nats-server from Debian (sid) into $cache" >&2
apt-get "${apt[@]}" update >&2
(cd "$cache" && rm -f nats-server_*.deb && apt-get "${apt[@]}" download nats-server >&2)
dpkg-deb -x "$cache"/nats-server_*.deb "$cache/root"
if ! new_enough "$unpacked"; then
  echo "the nats-server Debian offers is older than 2.11: $("$unpacked" --version)" >&2
  exit 1
fi
echo "$unpacked"
