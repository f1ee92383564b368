#!/usr/bin/env bash
# Create or refresh both environments from the lock files. Cheap when nothing changed:
# each venv keeps a stamp with the hash of what it was installed from.
#   .venv       Python >= 3.11: the service, actions, tests  (requirements/service.lock)
#   .venv-rasa  Python 3.10: Rasa Open Source 3.6.21          (requirements/rasa.lock)
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-all}"

stamp_of() { cat "$@" | sha256sum | cut -c1-32; }

pip_in() {  # $1 venv dir, rest: pip arguments; hides pip's notes about local mirrors it skips
  local dir="$1"; shift
  "$dir/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location 'file://" || true; }
  return "${PIPESTATUS[0]}"
}

make_env() {  # $1 venv dir, $2 python, $3 stamp, rest: pip install args
  local dir="$1" python="$2" stamp="$3"; shift 3
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$stamp" ]; then
    return 0
  fi
  echo "==> creating $dir with $("$python" --version 2>&1) ($python)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  pip_in "$dir" install --upgrade "pip>=24"
  pip_in "$dir" install "$@"
  echo "$stamp" > "$dir/.installed"
}

if [ "$only" = all ] || [ "$only" = service ]; then
  py="$(scripts/find-python.sh 3.11+)"
  make_env .venv "$py" "$(stamp_of requirements/service.lock)" \
    -r requirements/service.lock
  # The project itself, editable, without touching the locked dependencies (again only when
  # pyproject.toml changed: entry points and package lists live there).
  project="$(stamp_of pyproject.toml)"
  if [ "$(cat .venv/.project 2>/dev/null)" != "$project" ]; then
    pip_in .venv install --no-deps --no-build-isolation -e . 2>&1 | { grep -v "^ " || true; }
    echo "$project" > .venv/.project
  fi
fi

if [ "$only" = all ] || [ "$only" = rasa ]; then
  py310="$(scripts/find-python.sh 3.10)"
  make_env .venv-rasa "$py310" "$(stamp_of requirements/rasa.lock)" -r requirements/rasa.lock
  # The dense featurizer's files, without their dependencies (see the file's header).
  extra="$(stamp_of requirements/rasa-extra.lock)"
  if [ "$(cat .venv-rasa/.extra 2>/dev/null)" != "$extra" ]; then
    pip_in .venv-rasa install --no-deps -r requirements/rasa-extra.lock
    echo "$extra" > .venv-rasa/.extra
  fi
fi
