#!/usr/bin/env bash
# Installs checkov into its own virtual environment (.venv-checkov at the repository root).
#
# Why a separate venv: checkov pins many libraries (boto3, networkx, pydantic, ...) that
# would fight the application's own pins. Idempotent: does nothing when the pinned version
# is already installed, so `make` can call it before every test run.
#
# Usage: tools/checkov/install.sh            (from anywhere inside the repository)
#        CHECKOV_VENV=/path tools/checkov/install.sh
set -euo pipefail

readonly checkov_version="3.3.30"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv_dir="${CHECKOV_VENV:-${repo_root}/.venv-checkov}"
python_bin="${PYTHON:-python3}"

if [[ -x "${venv_dir}/bin/checkov" ]] \
  && "${venv_dir}/bin/python" -m pip show checkov 2>/dev/null | grep -qx "Version: ${checkov_version}"; then
  echo "checkov ${checkov_version} already installed in ${venv_dir}"
  exit 0
fi

"${python_bin}" -m venv "${venv_dir}"
"${venv_dir}/bin/python" -m pip install --quiet --upgrade pip
"${venv_dir}/bin/python" -m pip install --quiet "checkov==${checkov_version}"
echo "installed checkov ${checkov_version} in ${venv_dir}"
