#!/usr/bin/env bash
# Print the path of a Python interpreter of the wanted minor version.
#   find-python.sh 3.10   -> a Python 3.10 (Rasa 3.6 needs exactly 3.10)
#   find-python.sh 3.11+  -> a Python >= 3.11 (the service)
# Looks in: $FRONTDESK_PYTHON310 / $FRONTDESK_PYTHON, PATH, pyenv, then uv. Exits 1 with advice.
set -euo pipefail
want="${1:?usage: find-python.sh 3.10|3.11+}"

version_ok() {  # $1 = interpreter
  "$1" - "$want" <<'PY' 2>/dev/null
import sys
want = sys.argv[1]
v = sys.version_info[:2]
ok = v >= (3, 11) if want.endswith("+") else v == tuple(map(int, want.split(".")))
sys.exit(0 if ok else 1)
PY
}

try() {
  if [ -n "${1:-}" ] && command -v "$1" >/dev/null 2>&1 && version_ok "$(command -v "$1")"; then
    "$(command -v "$1")" -c "import sys; print(sys.executable)"; exit 0
  fi
}

if [ "$want" = "3.10" ]; then
  try "${FRONTDESK_PYTHON310:-}"
  try python3.10
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
      try "$(pyenv root)/versions/$v/bin/python3.10"
    done
  fi
  for root in "$HOME/.pyenv/versions" /usr/local/bin /usr/bin; do
    for p in "$root"/3.10*/bin/python3.10 "$root"/python3.10; do try "$p"; done
  done
  if command -v uv >/dev/null 2>&1; then try "$(uv python find 3.10 2>/dev/null || true)"; fi
  cat >&2 <<'MSG'
error: Rasa Open Source 3.6 needs Python 3.10, and none was found.
  Looked at $FRONTDESK_PYTHON310, python3.10 on PATH, pyenv versions and `uv python find 3.10`.
  Install one (for example `pyenv install 3.10` or `uv python install 3.10`),
  or point FRONTDESK_PYTHON310 at a python3.10 executable, then run the command again.
MSG
  exit 1
else
  try "${FRONTDESK_PYTHON:-}"
  for p in python3 python3.13 python3.12 python3.11; do try "$p"; done
  if command -v uv >/dev/null 2>&1; then try "$(uv python find '>=3.11' 2>/dev/null || true)"; fi
  echo "error: Frontdesk needs Python 3.11 or newer; set FRONTDESK_PYTHON to one." >&2
  exit 1
fi
