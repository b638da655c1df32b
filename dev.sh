#!/usr/bin/env bash
# One entry point for a fresh machine: sets up everything it needs, then runs what you ask.
#   bash dev.sh demo [ARGS...]   set up, then run the demo station (inspection demo ARGS...)
#   bash dev.sh test [PYTEST ARGS...]   set up (incl. test tools), then ruff, mypy and the tests
#   bash dev.sh setup            set up only
#   bash dev.sh lock             refresh the lock files (requirements*.lock) from pyproject.toml
# Set-up is idempotent and quick when nothing changed (a stamp of the lock file is kept in .venv).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root for: $*" >&2; return 1; fi; }

apt_install() {
  # Debian packages the tests use: headless Chromium (browser tests), mbpoll (third-party Modbus client),
  # Mosquitto and PostgreSQL (plant integration tests start their own servers on loopback).
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_setup() {
  # Installs exactly the versions in a lock file (every direct and transitive dependency, the build
  # back-end too), then the project itself without resolving anything. `bash dev.sh lock` refreshes them.
  local lock=$1
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "Python 3.11+ is required ($PY is $("$PY" --version))" >&2; exit 1; }
  [ -x "$VENV/bin/python" ] || { echo "==> creating $VENV"; "$PY" -m venv "$VENV"; }
  local stamp="$VENV/.stamp-$lock"
  local want
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> pip install -r $lock"
    "$VENV/bin/python" -m pip install -q -r "$lock" 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c "import inspection, cv2, pymodbus, fastapi" \
      || { echo "installation failed" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
}

lock() {
  # Re-resolves every dependency (and the build back-end, for the --no-build-isolation install) to its
  # newest allowed release and rewrites the three lock files:
  #   requirements-dev.lock  extras cpu,test,train,opcua,mqtt,plant,s7 (dev.sh test, CI)
  #   requirements.lock      extras cpu,opcua,mqtt,plant,s7 (dev.sh demo, the Dockerfile)
  #   requirements-gpu.lock  extras gpu,opcua,mqtt,plant,s7 (onnxruntime-gpu, not onnxruntime)
  # then checks that every package the locks share has the same version in each.
  local tools="$ROOT/.venv-lock"
  [ -x "$tools/bin/pip-compile" ] || { "$PY" -m venv "$tools"; "$tools/bin/pip" install -q pip-tools==7.7.0; }
  local opts=(-q --upgrade --strip-extras --allow-unsafe --all-build-deps --no-emit-index-url --no-emit-find-links)
  export CUSTOM_COMPILE_COMMAND="bash dev.sh lock"
  "$tools/bin/pip-compile" "${opts[@]}" --extra cpu,test,train,opcua,mqtt,plant,s7 -o requirements-dev.lock pyproject.toml
  "$tools/bin/pip-compile" "${opts[@]}" --extra cpu,opcua,mqtt,plant,s7 -o requirements.lock pyproject.toml
  "$tools/bin/pip-compile" "${opts[@]}" --extra gpu,opcua,mqtt,plant,s7 -o requirements-gpu.lock pyproject.toml
  "$PY" - <<'PYCHECK'
import re, sys
pins = {f: dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open(f).read(), re.M))
        for f in ("requirements-dev.lock", "requirements.lock", "requirements-gpu.lock")}
dev = pins["requirements-dev.lock"]
bad = [(f, k, v, dev[k]) for f in pins for k, v in pins[f].items() if k in dev and dev[k] != v]
if bad:
    sys.exit(f"lock files disagree (file, package, version, dev version): {bad}")
print("lock files agree:", {f: len(p) for f, p in pins.items()})
PYCHECK
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup)
    python_setup requirements.lock ;;
  lock)
    lock ;;
  demo)
    python_setup requirements.lock
    exec "$VENV/bin/inspection" demo "$@" ;;
  test)
    apt_install chromium mbpoll mosquitto postgresql
    python_setup requirements-dev.lock
    echo "==> ruff"; "$VENV/bin/ruff" check .
    echo "==> mypy"; "$VENV/bin/mypy"
    echo "==> pytest"; exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: bash dev.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
