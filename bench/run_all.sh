#!/usr/bin/env bash
# The whole benchmark in one command: raystream vs Pathway vs the floor.
#
#   bash bench/run_all.sh                  # full suite, 3 runs per figure
#   bash bench/run_all.sh --suite quick    # small inputs, a few minutes
#
# 1. creates bench/.venv-pathway (PyPI Pathway 0.33.0, and matplotlib for the
#    plot; neither is a raystream dependency);
# 2. starts the Kafka 0.9 broker and kinesalite through tests.services, with
#    their state in bench/results/services (stopped again on exit);
# 3. runs bench/run_bench.py (arguments are passed on), which prints the tables
#    and writes bench/results/bench.json;
# 4. runs bench/end_to_end.py (script launch to exit, as a user runs it; it starts
#    its own Kafka broker), which writes bench/results/end_to_end.json;
# 5. draws bench/results/bench.png.
#
# Needs `bash scripts/install.sh` first (raystream, the test services).
# Timings need a quiet machine: the suite starts once the 1-minute load average
# stayed below 1.5 for a minute, every run waits while it is above 3 (others'
# work; a run of ours alone stays below), and the load is recorded per run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
STATE="bench/results/services"
VENV_PY="bench/.venv-pathway/bin/python"

bash bench/setup_pathway.sh
"${VENV_PY}" -m pip install --quiet "matplotlib>=3.8"

mkdir -p "${STATE}"
python -m tests.services --state-dir "${STATE}" stop all >/dev/null
trap 'python -m tests.services --state-dir "${STATE}" stop all >/dev/null' EXIT
python -m tests.services --state-dir "${STATE}" start kafka >/dev/null
python -m tests.services --state-dir "${STATE}" start kinesalite >/dev/null

python bench/run_bench.py --services "${STATE}" --max-load 1.5 --quiet-start 60 \
  --run-max-load 3.0 "$@"
# End to end (script launch to exit): 10M lines, 5M messages; small inputs for the quick suite.
E2E_SIZES=()
if [[ " $* " == *" quick "* || " $* " == *"--suite=quick"* ]]; then
  E2E_SIZES=(--rows 1000000 --messages 500000 --runs 1)
fi
python bench/end_to_end.py "${E2E_SIZES[@]}" --out bench/results/end_to_end.json
"${VENV_PY}" bench/plot.py bench/results/bench.json bench/results/bench.png \
  --e2e bench/results/end_to_end.json
echo "reproduce: bash bench/run_all.sh $*"
