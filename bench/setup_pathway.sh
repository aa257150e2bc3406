#!/usr/bin/env bash
# Create bench/.venv-pathway (git-ignored) with PyPI Pathway, pinned.
#
# Pathway is only a benchmark baseline: it lives in this isolated venv and must
# never become a dependency of raystream itself.
#
# Usage: bash bench/setup_pathway.sh
set -euo pipefail

PATHWAY_VERSION="0.33.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${HERE}/.venv-pathway"
PYTHON="${PYTHON:-python3.11}"
command -v "${PYTHON}" >/dev/null || PYTHON=python3

if [[ ! -x "${VENV}/bin/python" ]]; then
  "${PYTHON}" -m venv "${VENV}"
fi
"${VENV}/bin/python" -m pip install --quiet --upgrade pip
"${VENV}/bin/python" -m pip install --quiet "pathway==${PATHWAY_VERSION}"

# Smoke test: import, and run a static jsonlines read -> write with no licence key.
TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT
printf '{"key": 1, "value": 2}\n{"key": 1, "value": 3}\n' > "${TMP}/in.jsonl"
PATHWAY_LICENSE_KEY= "${VENV}/bin/python" - "${TMP}" <<'PY'
import sys

import pathway as pw

tmp = sys.argv[1]


class S(pw.Schema):
    key: int
    value: int


t = pw.io.jsonlines.read(f"{tmp}/in.jsonl", schema=S, mode="static")
pw.io.jsonlines.write(t.groupby(t.key).reduce(t.key, s=pw.reducers.sum(t.value)), f"{tmp}/out.jsonl")
pw.run(monitoring_level=pw.MonitoringLevel.NONE)
out = open(f"{tmp}/out.jsonl").read()
assert '"s":5' in out.replace(" ", ""), out
print(f"pathway {pw.__version__} OK (file connectors, no licence key): {out.strip()}")
PY
