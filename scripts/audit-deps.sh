#!/usr/bin/env bash
# Known vulnerabilities in both lock files, with pip-audit. Not part of `make test`: it needs
# a vulnerability service on the network (PyPI's JSON API by default; AUDIT_SERVICE=osv for
# api.osv.dev). pip-audit lives in its own environment (var/audit-venv), never in .venv or
# .venv-rasa, and reads the pins as written (--no-deps), so the Rasa lock needs no Python 3.10.
# Where the service cannot be reached it says so and exits 0: nothing was audited.
# Exit 1 when an advisory matches a pinned version (docs/security.md says which are accepted).
set -euo pipefail
cd "$(dirname "$0")/.."
service="${AUDIT_SERVICE:-pypi}"
venv=var/audit-venv
python="$(scripts/find-python.sh 3.11+)"

# A lookup of one known release: PyPI answers it with a "vulnerabilities" list, OSV with JSON.
if ! "$python" - "$service" <<'PY'
import json, sys, urllib.request
service = sys.argv[1]
if service == "osv":
    body = json.dumps({"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "24.0"})
    request = urllib.request.Request("https://api.osv.dev/v1/query", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
else:
    request = urllib.request.Request("https://pypi.org/pypi/pip/24.0/json")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
except Exception as exc:  # offline, blocked, or a mirror without per-release pages
    print(f"audit-deps: {service} unreachable ({type(exc).__name__}: {exc})", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if service == "osv" or "vulnerabilities" in answer else 1)
PY
then
  other=osv; [ "$service" = osv ] && other=pypi
  echo "audit-deps: the '$service' vulnerability service cannot be reached from here;" \
       "nothing was audited (try AUDIT_SERVICE=$other, or a machine with internet access)."
  exit 0
fi

if [ ! -x "$venv/bin/pip-audit" ]; then
  "$python" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip-audit; then
    echo "audit-deps: could not install pip-audit into $venv; nothing was audited."
    exit 0
  fi
fi

status=0
for lock in requirements/service.lock requirements/rasa.lock; do
  echo "==> $lock"
  "$venv/bin/pip-audit" --requirement "$lock" --no-deps --disable-pip \
    --vulnerability-service "$service" --progress-spinner off || status=1
done
exit "$status"
