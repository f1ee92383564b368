#!/usr/bin/env bash
# HAProxy for the scale test (`make test-scale`, tests/scale): the real load balancer in
# front of two service replicas and two Rasa instances on loopback. Debian's `haproxy`
# package (2.6 on bookworm). Idempotent: does nothing when `haproxy` is already on PATH.
# Only the binary is used: the test writes its own configuration and runs it in the
# foreground; the package's system service is not needed (and is stopped if apt started it).
set -euo pipefail

if command -v haproxy >/dev/null 2>&1; then
  echo "==> $(haproxy -v | head -1)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  cat >&2 <<MSG
error: haproxy is missing and this script is neither running as root nor able to use sudo.
Install Debian's haproxy package as root, then run this script again:

    apt-get update && apt-get install -y haproxy
MSG
  exit 1
fi
$sudo apt-get update
$sudo apt-get install -y haproxy
# apt may start the packaged service (port 80 in its default configuration): not ours.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
  $sudo systemctl stop haproxy || true
fi
echo "==> $(haproxy -v | head -1)"
