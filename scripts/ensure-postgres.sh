#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) are on this
# machine, installing Debian's postgresql package when they are missing and we
# may install (root). tenantapi finds them on PATH, through pg_config, or under
# /usr/lib/postgresql/*/bin.
set -euo pipefail

have_postgres() {
  command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
  if command -v pg_config >/dev/null 2>&1; then
    local bindir
    bindir=$(pg_config --bindir)
    [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/initdb" ] && return 0
  fi
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && return 0
  return 1
}

if have_postgres; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server binaries not found; install them (apt-get install postgresql) or set TEST_DATABASE_URL" >&2
  exit 1
fi
echo "installing PostgreSQL server binaries (Debian package postgresql)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# The package may create and start a cluster of its own; tenantapi does not use it.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name _; do
    pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
  done
fi
have_postgres
