#!/usr/bin/env bash
# Creates .venv-triton for the local Triton server (inference/triton_local.py), once.
# Re-running is cheap: it reinstalls only when inference/requirements-triton.txt changed.
# Usage: scripts/install_triton_venv.sh [VENV_DIR]   (PYTHON=... picks the interpreter)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.venv-triton}
requirements=$root/inference/requirements-triton.txt
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
stamp=$venv/.installed

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi

[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$requirements"
# The stamp goes last, so an interrupted install is redone next time.
echo "$want" > "$stamp"
echo "Installed the local Triton venv in $venv" >&2
