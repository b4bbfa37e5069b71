#!/usr/bin/env bash
# Makes sure PgBouncer is on this machine, installing Debian's pgbouncer
# package when it is missing and we may install (root). The tests of package
# postgres start a PgBouncer of their own in transaction mode in front of
# their PostgreSQL (internal/pgbouncer); they find it on PATH or at
# /usr/sbin/pgbouncer. The service the package may start is stopped and
# disabled: tenantapi never uses it.
set -euo pipefail

have_pgbouncer() {
  command -v pgbouncer >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/pgbouncer ] && return 0
  return 1
}

if have_pgbouncer; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  # Only the PgBouncer tests need it (and fail saying so); `make dev` does not.
  echo "warning: PgBouncer not found and not root; install it (apt-get install pgbouncer, brew install pgbouncer): the PgBouncer tests of package postgres need it" >&2
  exit 0
fi
echo "installing PgBouncer (Debian package pgbouncer)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
# The package may start (and enable) a pgbouncer service of its own on port
# 6432; nothing here uses it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now pgbouncer >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/pgbouncer ]; then
  /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d pgbouncer disable >/dev/null 2>&1 || true
fi
have_pgbouncer
