#!/usr/bin/env bash
# Run the test suite again with the wall clock moved, so that a test or a piece of code that
# depends on today's date or the hour fails the day it is written, not weeks later:
#
#   late evening   the next 23:30 in New York (the demo practice's zone): "tomorrow" is half
#                  an hour away, the first free slot is under 24 hours ahead, the UTC date
#                  is already the next day
#   a year ahead   every fixed date in the tests lies a year in the past
#
# The shift comes from libfaketime (scripts/install-faketime.sh), preloaded into pytest and
# inherited by every process a test starts (the service, the outreach worker, the FHIR
# server). The monotonic clock stays real, so timeouts and sleeps keep their length.
# PostgreSQL and Redis, already running, keep the real time, as a real clock skew would; so
# does Rasa: TensorFlow's thread pools wait on the kernel's real-time clock directly (nsync's
# futex deadlines), which no preload can move, so a shifted Rasa waits a day (or a year) at
# its first timed wait. The service's decisions (slots, policies, reminders) are all made in
# our own processes, which are shifted.
#
# Usage: scripts/test-shifted-clock.sh [PYTEST ARGS...]
#   default: every test but the browser group (chromium runs it once, unshifted) and the
#   fault suite (it moves its own clock; its kills and restarts need not run three times)
# Both runs always happen; the script fails if either did. Outside CI, a machine that cannot
# build libfaketime (no C compiler) skips the runs with a note; in CI that is an error.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
if ! library=$(scripts/install-faketime.sh); then
  if [ "${CI:-}" = "true" ]; then
    echo "error: libfaketime is needed for the shifted-clock runs" >&2
    exit 1
  fi
  echo "note: skipping the shifted-clock runs (libfaketime could not be built here)"
  exit 0
fi
library="$(pwd)/$library"
if [ "$#" -eq 0 ]; then
  # The fault suite sets its processes' clocks itself, and the review loop's real training
  # reads no clock: neither says more under a moved clock, and each costs minutes.
  set -- -m "not browser and not faults" --deselect tests/review/test_training.py
fi

# Seconds from now to the next 23:30 in New York (ahead, never behind: a negative offset is
# a clock set back, which tests of "the next reminder" would read as time running backwards).
late_evening=$("$PY" - <<'PY'
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

now = datetime.now(ZoneInfo("America/New_York"))
evening = now.replace(hour=23, minute=30, second=0, microsecond=0)
if evening <= now:
    evening += timedelta(days=1)
print(int((evening - now).total_seconds()))
PY
)

# Rasa runs through a `rasa` that drops the shift before starting the real one (the service
# and the tests find it through FRONTDESK_RASA_VENV).
real_clock_rasa="$(pwd)/.venv/libfaketime/rasa-venv"
mkdir -p "$real_clock_rasa/bin"
# `rasa` and the environment's `python` (tests load our bot files with Rasa's own code).
for tool in rasa python; do
  printf '%s\n' '#!/bin/sh' \
    '# Rasa keeps the real time in the shifted-clock runs (see scripts/test-shifted-clock.sh).' \
    "exec env -u LD_PRELOAD -u FAKETIME -u FAKETIME_DONT_FAKE_MONOTONIC $(pwd)/.venv-rasa/bin/$tool \"\$@\"" \
    > "$real_clock_rasa/bin/$tool"
  chmod +x "$real_clock_rasa/bin/$tool"
done

failed=0
run_shifted() {  # $1 label, $2 libfaketime offset, rest: pytest arguments
  local label="$1" offset="$2"; shift 2
  local shift_env=(LD_PRELOAD="$library" FAKETIME="$offset" FAKETIME_DONT_FAKE_MONOTONIC=1
    FRONTDESK_RASA_VENV="$real_clock_rasa")
  echo "==> the tests again, with the clock moved to $label (FAKETIME=$offset)"
  env "${shift_env[@]}" "$PY" -c 'from datetime import UTC, datetime
print("    the tests see", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))'
  env "${shift_env[@]}" "$PY" -m pytest -p no:cacheprovider "$@" || failed=1
}

run_shifted "23:30 in New York" "+$late_evening" "$@"
run_shifted "a year ahead" "+365d" "$@"
exit "$failed"
