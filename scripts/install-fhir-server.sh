#!/usr/bin/env bash
# Install the test FHIR server's npm packages (Medplum's FHIR engine, tests/fhir_server/) from
# its lock file. Quiet, and a no-op when node_modules already matches package-lock.json.
# Needs Node >= 20.19 and npm; the EHR tests (tests/ehr/) start the server themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=tests/fhir_server
STAMP="$DIR/node_modules/.frontdesk-lock.sha256"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    cat >&2 <<MSG
error: '$tool' not found. The EHR tests run Medplum's FHIR engine on Node.js (>= 20.19).
Install Node.js 20 LTS with npm (Debian: apt-get install -y nodejs npm), then run
'make setup-fhir' again.
MSG
    exit 1
  fi
done

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old for @medplum 4.x; install Node.js 20 or newer." >&2
  exit 1
fi

wanted="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  exit 0
fi
echo "==> installing the test FHIR server's npm packages ($DIR)"
npm ci --prefix "$DIR" --no-audit --no-fund --loglevel=error >/dev/null
echo "$wanted" > "$STAMP"
