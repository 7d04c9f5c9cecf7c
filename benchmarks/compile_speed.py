"""Compile time of a model in a process that finds it in the on-disk compile cache.

Runs fresh processes in turn, each building and compiling the same design: with an empty cache
directory (this process compiles the entry, in a child process), then twice finding that entry,
then twice with the cache off (what every process paid before the cache). Prints each
process's seconds and the ratios. PyTensor's own cache is whatever this machine holds; run the
script twice to see it warm.

Usage: ``python benchmarks/compile_speed.py [variant] [n_dyads] [n_days]`` (default asem 100 56).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time
import asem_bayes as ab
from asem_bayes.model import CompiledModel
variant, n_dyads, n_days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
study = ab.simulate(variant, n_dyads, n_days, seed=1)
t0 = time.perf_counter()
cm = CompiledModel(study, variant, trajectories=False)
print("RESULT", cm.compile_cache, time.perf_counter() - t0, cm.compile_seconds)
"""


def run(args: list[str], cache: str) -> tuple[str, float, float]:
    env = {**os.environ, "ASEM_COMPILE_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, check=True)
    status, build, comp = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")).split()[1:]
    return status, float(build), float(comp)


def main() -> None:
    args = [sys.argv[1] if len(sys.argv) > 1 else "asem", *(sys.argv[2:4] or ["100", "56"])]
    with tempfile.TemporaryDirectory(prefix="asem-compile-") as tmp:
        on = [run(args, tmp) for _ in range(3)]
    off = [run(args, "off") for _ in range(2)]
    print(f"{args[0]} {args[1]} dyads x {args[2]} days; seconds of CompiledModel(...) (build + compile) and compile:")
    for status, build, comp in [*on, *off]:
        print(f"  cache {status:9s} build+compile {build:6.1f} s   compile {comp:6.1f} s")
    loaded = [r for r in on if r[0] == "loaded"]
    ref_b, ref_c = min(r[1] for r in off), min(r[2] for r in off)
    print(f"ratio loaded / off: compile {min(r[2] for r in loaded) / ref_c:.2f}, "
          f"build+compile {min(r[1] for r in loaded) / ref_b:.2f}; "
          f"the process that compiles the entry / off: {on[0][2] / ref_c:.2f}")


if __name__ == "__main__":
    main()
