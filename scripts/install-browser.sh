#!/usr/bin/env bash
# Make the real-browser tests (tests/e2e/test_widget_browser.py) runnable on this machine:
# Debian's `chromium` package at /usr/bin/chromium, driven by the Python `playwright` package
# from .venv. Idempotent: does nothing when chromium is already there. Never downloads a browser
# through Playwright (`playwright install` is not used, on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
VENV_PY=.venv/bin/python

if [ -x "$CHROMIUM" ]; then
  echo "==> chromium already installed at $CHROMIUM"
else
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    cat >&2 <<EOF
error: $CHROMIUM is missing and this script is neither running as root nor able to use sudo.
Install Debian's chromium package as root, then run this script again:

    apt-get update && apt-get install -y chromium

(On a non-Debian system, install Chromium with your package manager and point the tests at
it with FRONTDESK_CHROMIUM=/path/to/chromium.)
EOF
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: apt-get not found; install Chromium by hand and set FRONTDESK_CHROMIUM." >&2
    exit 1
  fi
  echo "==> installing Debian's chromium package"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
  fi
fi

if [ -x "$VENV_PY" ] && ! "$VENV_PY" -c 'import playwright.sync_api' >/dev/null 2>&1; then
  echo "note: the Python 'playwright' package is not importable in .venv;" \
    "run 'make setup' (it comes from requirements/service.lock)."
fi

echo "==> $("$CHROMIUM" --version 2>/dev/null)"
