"""Run a benchmark on a baseline version of the package and on this checkout, and print the ratio.

The baseline is checked out from git into a temporary worktree and imported from there
(``PYTHONPATH``), so both versions run on the same machine, in the same session, with the same
environment. Runs alternate (baseline, current, baseline, current, ...) so that a change in the
machine's load reaches both; each figure is the median over ``--repeat`` runs.

Usage::

    python benchmarks/versus.py --baseline speed-baseline --repeat 3 grad_speed.py asem 100 56
    python benchmarks/versus.py --baseline speed-baseline fit_speed.py --samplers nutpie

``speed-baseline`` names the package before the speed work and ``start-baseline`` the package
before the chain-start change (docs/performance.md). Both are git tags where they were made; a
clone without the tags resolves them through ``NAMED_BASELINES``.
The benchmark script is taken from each version's own ``benchmarks/`` folder; the figures read
from its output are listed in ``FIGURES``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Baselines that docs/performance.md names, for clones that lack their tags.
NAMED_BASELINES = {
    "speed-baseline": "c66cba51a58b2650f2f1b6b390ca47ff1a9fd086",
    "start-baseline": "3177f2a7d924c74eef6e912fc962eac02da18482",
}

# figure name -> regular expression with one group, per benchmark script
FIGURES: dict[str, dict[str, str]] = {
    "grad_speed.py": {
        "logp+grad us CPU": r"(\d+) us CPU per logp\+grad",
        "compile s": r"compile: ([\d.]+) s",
    },
    "fit_speed.py": {
        "compile s": r"^nutpie\s+([\d.]+)",
        "sample s": r"^nutpie\s+[\d.]+\s+([\d.]+)",
        "total s": r"^nutpie\s+[\d.]+\s+[\d.]+\s+([\d.]+)",
        "min bulk ESS (population)": r"^nutpie(?:\s+\S+){4}\s+([\d.]+)",
        "divergences": r"^nutpie(?:\s+\S+){6}\s+(\d+)",
        "max R-hat (population)": r"^nutpie(?:\s+\S+){7}\s+([\d.]+)",
        "leapfrog steps per draw": r"^nutpie(?:\s+\S+){9}\s+([\d.]+)",
    },
}


def run_once(tree: Path, script: str, args: list[str]) -> str:
    """Run ``tree/benchmarks/script`` with the package imported from ``tree``; its stdout."""
    env = os.environ | {"PYTHONPATH": str(tree)}
    where = subprocess.run(
        [sys.executable, "-c", "import asem_bayes; print(asem_bayes.__file__)"],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not where.startswith(str(tree)):
        raise RuntimeError(f"asem_bayes imported from {where}, not from {tree}")
    out = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script), *args],
        env=env, cwd=tree, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script} failed in {tree}:\n{out.stderr[-3000:]}")
    return out.stdout


def figures(script: str, text: str) -> dict[str, float]:
    """The figures of ``FIGURES[script]`` found in a run's output."""
    found = {}
    for name, pattern in FIGURES[script].items():
        m = re.search(pattern, text, flags=re.MULTILINE)
        if m:
            found[name] = float(m.group(1))
    return found


def resolve(ref: str) -> str:
    """``ref`` if git knows it, else the commit ``NAMED_BASELINES`` gives it."""
    known = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
                           capture_output=True, text=True, check=False)
    if known.returncode == 0 or ref not in NAMED_BASELINES:
        return ref
    return NAMED_BASELINES[ref]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="git ref of the baseline (tag, branch or commit)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("script", choices=sorted(FIGURES))
    ap.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the benchmark script")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="asem-baseline-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), resolve(a.baseline)],
                       check=True)
        try:
            runs: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
            for i in range(a.repeat):
                for label, tree in (("baseline", base), ("current", ROOT)):
                    text = run_once(tree, a.script, a.args)
                    runs[label].append(figures(a.script, text))
                    print(f"--- {label}, run {i + 1} ---\n{text}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print(f"\n{a.script} {' '.join(a.args)}: median of {a.repeat} run(s), baseline = {a.baseline}")
    print(f"{'figure':28s} {'baseline':>10s} {'current':>10s} {'current/baseline':>17s}")
    for name in FIGURES[a.script]:
        b = [r[name] for r in runs["baseline"] if name in r]
        c = [r[name] for r in runs["current"] if name in r]
        if b and c:
            mb, mc = statistics.median(b), statistics.median(c)
            print(f"{name:28s} {mb:10.3f} {mc:10.3f} {mc / mb if mb else float('nan'):17.2f}")


if __name__ == "__main__":
    main()
