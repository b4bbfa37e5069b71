#!/usr/bin/env bash
# Makes sure Node.js 20.19 or newer and npm are on this machine, for the
# tests of the TypeScript client (clients/typescript, TestTypeScriptClient),
# installing Debian's nodejs and npm packages when they are missing and we
# may install (root). The generator the client is made with needs 20.19; a
# Debian release whose nodejs is older is said so, with what to install.
set -euo pipefail

need_major=20
need_minor=19

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local v major minor
  v="$(node --version)" # v20.20.2
  v="${v#v}"
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  [ "$major" -gt "$need_major" ] || { [ "$major" -eq "$need_major" ] && [ "$minor" -ge "$need_minor" ]; }
}

if node_ok; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  # Only the TypeScript client's test needs it (and fails saying so).
  echo "warning: Node.js >= $need_major.$need_minor with npm not found; install it (https://nodejs.org, or your package manager): the TypeScript client's tests need it" >&2
  exit 0
fi
echo "installing Node.js and npm (Debian packages nodejs, npm)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
if ! node_ok; then
  echo "warning: this system's Node.js ($(node --version 2>/dev/null || echo none)) is older than $need_major.$need_minor, which the TypeScript client's generator needs; install a newer one (https://nodejs.org/en/download)" >&2
fi
exit 0
