#!/usr/bin/env bash
# libfaketime for the shifted-clock test runs (scripts/test-shifted-clock.sh), built from the
# C source that the `libfaketime` package on PyPI (python-libfaketime) vendors, with only the
# wall clock faked. Prints the path of the library to preload.
#
# Why not Debian's `faketime` package (0.9.10, bookworm)? It is built to fake sleeps and
# thread waits too, and with Python 3.11 that breaks: with the monotonic clock excluded it
# turns clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which time.sleep uses, into a negative
# time (EINVAL; wolfcw/libfaketime#426); with the monotonic clock faked, thread waits
# (sem_clockwait) sleep a day for a one-second timeout (#390); and its pthread_cond_timedwait
# wrapper makes the interpreter's lock hand-offs about 20 times slower under many threads (the
# 200-way booking race went from 2.5 s to 50 s and connections timed out). Built without
# FAKE_SLEEP, FAKE_PTHREAD and FAKE_TIMERS, and run with FAKETIME_DONT_FAKE_MONOTONIC=1, it
# moves the wall clock and nothing else.
#
# Idempotent: builds once into .venv/libfaketime (removed with the environment). Needs `make`
# and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.0.1  # python-libfaketime; its vendored libfaketime source is what gets built
FLAGS="-UFAKE_STAT -UFAKE_UTIME -UFAKE_SLEEP -UFAKE_PTHREAD -UFAKE_TIMERS"
TARGET=.venv/libfaketime
LIBRARY="$TARGET/libfaketime.so.1"
STAMP="$VERSION $FLAGS"

if [ -f "$LIBRARY" ] && [ "$(cat "$TARGET/.built" 2>/dev/null)" = "$STAMP" ]; then
  echo "$LIBRARY"
  exit 0
fi
for tool in make cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: building libfaketime needs '$tool' (Debian: apt-get install build-essential)" >&2
    exit 1
  fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary :all: --dest "$work" "libfaketime==$VERSION" 2>&1 \
  | { grep -v "^WARNING: Location 'file://" || true; } >&2
tar -xzf "$work/libfaketime-$VERSION.tar.gz" -C "$work"
src="$work/libfaketime-$VERSION/libfaketime/vendor/libfaketime/src"
make --silent -C "$src" libfaketime.so.1 FAKETIME_COMPILE_CFLAGS="$FLAGS" >&2
rm -rf "$TARGET"
mkdir -p "$TARGET"
cp "$src/libfaketime.so.1" "$LIBRARY"
echo "$STAMP" > "$TARGET/.built"
echo "$LIBRARY"
