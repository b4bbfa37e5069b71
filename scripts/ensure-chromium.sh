#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is on this machine, installing
# Debian's chromium package when it is missing and we may install (root).
# The docs page test of cmd/tenantapi (TestDocsPageInBrowser) renders /docs
# in it and takes a screenshot; it fails naming `make tools` without it.
set -euo pipefail

have_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  command -v chromium-browser >/dev/null 2>&1 && return 0
  return 1
}

if have_chromium; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "warning: chromium not found and not root; install it (apt-get install chromium): the /docs browser test of cmd/tenantapi needs it" >&2
  exit 0
fi
echo "installing Chromium (Debian package chromium)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
have_chromium
