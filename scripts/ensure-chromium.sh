#!/usr/bin/env bash
# Make sure a Chromium is here for the inbox's browser tests (tests/browser.py drives it with
# Playwright; Playwright's own browser download is not possible offline). Installs Debian's
# `chromium` package when it is missing; SIGNOFF_CHROMIUM points the tests at another binary.
set -euo pipefail

chromium="${SIGNOFF_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing at $chromium: install it (e.g. apt-get install chromium) or set SIGNOFF_CHROMIUM." >&2
  exit 1
fi
echo "Installing Chromium for the browser tests..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
