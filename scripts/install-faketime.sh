#!/usr/bin/env bash
# libfaketime for the shifted-clock test runs (scripts/test-shifted-clock.sh), built from the
# `libfaketime` package on PyPI (python-libfaketime), which vendors libfaketime's C source and
# compiles it without its sleep interception. Prints the path of the library to preload.
#
# Why not Debian's `faketime` package (0.9.10, bookworm)? With the monotonic clock excluded
# it rewrites clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which Python 3.11's time.sleep
# uses, into a negative time (EINVAL; wolfcw/libfaketime#426); with the monotonic clock faked,
# Python's thread waits (sem_clockwait, not intercepted) wait a day or a year for a 1 s
# timeout (wolfcw/libfaketime#390). Without sleep interception and with the monotonic clock
# left real, both are right: only the wall clock moves.
#
# Idempotent: builds once into .venv/libfaketime (removed with the environment). Needs `make`
# and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.0.1
TARGET=.venv/libfaketime
LIBRARY="$TARGET/libfaketime/vendor/libfaketime/src/libfaketime.so.1"

if [ -f "$LIBRARY" ] && [ "$(cat "$TARGET/.version" 2>/dev/null)" = "$VERSION" ]; then
  echo "$LIBRARY"
  exit 0
fi
for tool in make cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: building libfaketime needs '$tool' (Debian: apt-get install build-essential)" >&2
    exit 1
  fi
done
rm -rf "$TARGET"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  --target "$TARGET" "libfaketime==$VERSION" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; } >&2
if [ ! -f "$LIBRARY" ]; then
  echo "error: libfaketime $VERSION installed, but $LIBRARY was not built" >&2
  exit 1
fi
echo "$VERSION" > "$TARGET/.version"
echo "$LIBRARY"
