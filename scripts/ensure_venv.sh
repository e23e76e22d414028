#!/usr/bin/env bash
# Create (once) the project venv in a cache outside the clone, keyed by a hash of requirements/lock.txt
# (every package pinned) and the Python version,
# point .venv at it, and (re)install this checkout in editable mode. Idempotent; fast when done.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
cache=${EDGEPRUNE_VENV_ROOT:-$HOME/.cache/edgeprune/venvs}
key=$({ cat "$root/requirements/lock.txt"; "$python" -c 'import sys, platform; print(sys.version, platform.machine())'; } | sha256sum | cut -c1-16)
venv="$cache/$key"
mkdir -p "$cache"

exec 9>"$cache/$key.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "[ensure_venv] building $venv (torch is ~6 GB; a few minutes from the local wheel store)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
  "$venv/bin/pip" install -q -r "$root/requirements/lock.txt"
  touch "$venv/.complete"
  # keep the two most recent venvs, drop older ones (each is ~6 GB)
  ls -1dt "$cache"/*/ 2>/dev/null | tail -n +3 | while read -r old; do rm -rf "$old" "${old%/}.lock"; done
fi
ln -sfn "$venv" "$root/.venv"
if ! "$venv/bin/python" - "$root" <<'PY' 2>/dev/null
import pathlib, sys, edgeprune
sys.exit(0 if pathlib.Path(edgeprune.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]) / "src") else 1)
PY
then
  stale=1
fi
# the package itself: editable, reinstalled when this checkout or its pyproject.toml changed
stamp="$venv/.edgeprune-$(sha256sum "$root/pyproject.toml" | cut -c1-16)-$(echo "$root" | sha256sum | cut -c1-8)"
if [ "${stale:-0}" = 1 ] || [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$root"
  "$venv/bin/pip" check >/dev/null || { "$venv/bin/pip" check; echo "pyproject.toml asks for packages requirements/lock.txt lacks" >&2; exit 1; }
  rm -f "$venv"/.edgeprune-*
  touch "$stamp"
fi
echo "[ensure_venv] .venv -> $venv"
