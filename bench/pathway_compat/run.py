"""Runs Pathway's own unit tests, unchanged, on raystream and on real Pathway; prints pass counts.

A development check for issue 12 ("Pathway compatibility"), never a test
dependency. The selected test files are copied from Pathway's installation in
``bench/.venv-pathway`` into a temporary directory and run twice:

* raystream: the system ``python3`` with ``shim/`` first on ``PYTHONPATH``, so
  ``import pathway`` is raystream (``shim/pathway``);
* Pathway: the venv's python, no shim (the baseline).

Usage: ``python3 bench/pathway_compat/run.py [--side raystream|pathway|both]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import selection

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE.parent / ".venv-pathway" / "bin" / "python"
FAILURES = Path("/tmp/compat_raystream_failures.txt")
RUN_TIMEOUT_S = 40 * 60
TEST_TIMEOUT_S = 60


def pathway_tests_dir() -> Path:
    """``pathway/tests`` of the venv's Pathway."""
    probe = "import pathway.tests as t; print(t.__path__[0])"
    out = subprocess.run([str(VENV_PYTHON), "-c", probe], capture_output=True, text=True,
                         check=True, env={"PATH": os.environ["PATH"]})
    return Path(out.stdout.strip())


def prepare(work: Path) -> Path:
    """Copies the selected test files and the conftest into ``work``; returns the deselection."""
    source = pathway_tests_dir()
    for name in selection.TEST_FILES:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, work / name)
    shutil.copytree(source / "programs", work / "programs",
                    ignore=shutil.ignore_patterns("__pycache__"))  # test_debug_operator runs one
    shutil.copy(HERE / "conftest_compat.py", work / "conftest.py")
    (work / "pytest.ini").write_text("[pytest]\n")  # no ini file from a parent directory
    deselect = work / "deselect.json"
    deselect.write_text(json.dumps(selection.deselection(source), indent=1))
    return deselect


def side_env(side: str, deselect: Path, out: Path) -> tuple[str, dict[str, str]]:
    """The python and environment of one run (the shim first on the path for raystream)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(RAY_AUTH_MODE="disabled", PW_COMPAT_DESELECT=str(deselect),
               PW_COMPAT_DESELECTED_OUT=str(out / f"deselected_{side}.json"),
               PW_COMPAT_TIMEOUT=str(TEST_TIMEOUT_S), PYTHONDONTWRITEBYTECODE="1")
    if side == "raystream":
        env["PYTHONPATH"] = str(HERE / "shim")
        return sys.executable, env
    env["PATH"] = f"{VENV_PYTHON.parent}{os.pathsep}{env['PATH']}"  # tests run "python3"
    return str(VENV_PYTHON), env


def check_pathway_is(side: str, python: str, env: dict[str, str]) -> None:
    """Fails unless ``import pathway`` is the shim (raystream side) or real Pathway."""
    probe = ("import pathway, sys; f = pathway.__file__; "
             "shim = f.endswith('shim/pathway/__init__.py'); "
             f"sys.exit(0 if shim == {side == 'raystream'} else f)")
    subprocess.run([python, "-c", probe], env=env, check=True, cwd="/")


def run_side(side: str, work: Path, deselect: Path, out: Path) -> tuple[Path, Path]:
    """Runs pytest for one side; returns its JUnit XML report and its log."""
    python, env = side_env(side, deselect, out)
    check_pathway_is(side, python, env)
    report = out / f"junit_{side}.xml"
    has_timeout = subprocess.run([python, "-c", "import pytest_timeout"], env=env,
                                 capture_output=True).returncode == 0
    command = ["timeout", "-k", "30", str(RUN_TIMEOUT_S), python, "-m", "pytest", "-q", "-rX",
               "-p", "no:cacheprovider", f"--junitxml={report}", "-o", "junit_family=xunit1",
               *([f"--timeout={TEST_TIMEOUT_S}"] if has_timeout else []), "."]
    log = out / f"pytest_{side}.log"
    print(f"[{side}] {' '.join(command)}  (log: {log})", flush=True)
    with log.open("w") as handle:
        code = subprocess.run(command, cwd=work, env=env, stdout=handle,
                              stderr=subprocess.STDOUT).returncode
    if code == 124:
        print(f"[{side}] the whole run timed out after {RUN_TIMEOUT_S} s", flush=True)
    return report, log


def outcomes(report: Path, log: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, one-line reason)}`` from a JUnit XML report (XPASS from the log)."""
    results: dict[str, tuple[str, str]] = {}
    if not report.exists():
        return results
    xpassed = {line.split()[1] for line in log.read_text().splitlines()
               if line.startswith("XPASS ")}
    for case in ET.parse(report).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        test_id = f"{module}.py::{case.get('name')}"
        kinds = {"failure": "failed", "error": "error", "skipped": "skipped"}
        child = next((c for c in case if c.tag in kinds), None)
        if child is None:
            results[test_id] = ("xpassed" if test_id in xpassed else "passed", "")
            continue
        outcome = kinds[child.tag]
        if outcome == "skipped" and child.get("type") == "pytest.xfail":
            outcome = "xfailed"
        reason = (child.get("message") or child.text or "").strip().splitlines()
        results[test_id] = (outcome, reason[0][:300] if reason else "")
    return results


def summary(side: str, results: dict[str, tuple[str, str]]) -> str:
    """``passed 292 / 312, failed 18, error 2`` (+ skipped/xfailed/xpassed if any)."""
    counts = collections.Counter(outcome for outcome, _ in results.values())
    kinds = ("failed", "error", "skipped", "xfailed", "xpassed")
    rest = ", ".join(f"{k} {counts[k]}" for k in kinds if counts[k] or k in ("failed", "error"))
    return f"{side:>9}: passed {counts['passed']} / {len(results)}, {rest}"


def main() -> None:
    """Prepares the tests, runs the chosen sides, prints the counts, writes the failure list."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("raystream", "pathway", "both"), default="both")
    sides = ("raystream", "pathway") if (side := parser.parse_args().side) == "both" else (side,)
    out = Path(tempfile.mkdtemp(prefix="pw_compat_out_"))
    work = Path(tempfile.mkdtemp(prefix="pw_compat_tests_"))
    deselect = prepare(work)
    results = {s: outcomes(*run_side(s, work, deselect, out)) for s in sides}
    deselected = json.loads((out / f"deselected_{sides[0]}.json").read_text())
    reasons = collections.Counter(deselected.values())
    print(f"\nselected: {len(results[sides[0]])} tests; deselected: {len(deselected)} "
          f"({', '.join(f'{r} {n}' for r, n in reasons.most_common())})")
    for s in sides:
        print(summary(s, results[s]))
    if "raystream" in results:
        failing = sorted((t, o, r) for t, (o, r) in results["raystream"].items()
                         if o in ("failed", "error"))
        FAILURES.write_text("".join(f"{t} | {o} | {r}\n" for t, o, r in failing))
        print(f"raystream failures: {FAILURES} ({len(failing)}); reports and logs: {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
