#!/usr/bin/env bash
# Pathway's own unit tests on raystream and on real Pathway (a development check, issue 12).
#
# Needs bench/.venv-pathway (bash bench/setup_pathway.sh); installs pytest and
# pytest-timeout into it when missing. Prints the pass counts; raystream's
# failures go to /tmp/compat_raystream_failures.txt.
#
# Usage: bash bench/pathway_compat/run.sh [--side raystream|pathway|both]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_PYTHON="${HERE}/../.venv-pathway/bin/python"
if [[ ! -x "${VENV_PYTHON}" ]]; then
  echo "no ${VENV_PYTHON}: run 'bash bench/setup_pathway.sh' first" >&2
  exit 1
fi
if ! "${VENV_PYTHON}" -c "import pytest, pytest_timeout" 2>/dev/null; then
  "${VENV_PYTHON}" -m pip install --quiet pytest pytest-timeout
fi
cd "${HERE}"
exec python3 run.py "$@"
