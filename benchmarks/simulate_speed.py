"""Speed and memory of the simulator (issue 2): 10,000 dyads x 365 days in under 2 s on one core.

Run ``.venv/bin/python benchmarks/simulate_speed.py`` (``--check`` exits 1 above the target).
Math libraries are limited to one thread before numpy is imported, so the figure is a one-core
figure; ``--pin`` also pins the process to a single CPU. The machine may be shared, so the
best of a few repetitions after a warm-up is the figure, and the process CPU time is printed
next to it (CPU time well below wall time means another job took the core).

Memory is measured with :mod:`tracemalloc` (numpy reports its array allocations to it): the peak
while simulating and the size of the returned Dataset, at a few sizes, per dyad-day. Constant
bytes per dyad-day across sizes is what "grows linearly in dyads x days" means.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - the thread limits must be set before numpy loads
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from asem_bayes.simulate import simulate  # noqa: E402

TARGET_S = 2.0


def time_simulate(n_dyads: int, n_days: int, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeat`` seeded simulations (after one small warm-up)."""
    simulate("asem", 50, 30, seed=0)  # warm-up: imports, registry, first allocations
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        ds = simulate("asem", n_dyads, n_days, seed=1)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        del ds
    return wall, cpu


def memory_at(n_dyads: int, n_days: int) -> tuple[int, int]:
    """Peak traced bytes while simulating, and the returned Dataset's ``nbytes``."""
    tracemalloc.start()
    try:
        ds = simulate("asem", n_dyads, n_days, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, int(ds.nbytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dyads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pin", action="store_true", help="pin the process to one CPU")
    parser.add_argument("--check", action="store_true", help="exit 1 if the best time misses the target")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)

    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"numpy {np.__version__}; math-library threads limited to 1" + ("; pinned to one CPU" if args.pin else ""))

    wall, cpu = time_simulate(args.dyads, args.days, args.repeat)
    best = min(wall)
    print(
        f"simulate('asem', {args.dyads:,}, {args.days}, seed=1): best {best:.2f} s wall "
        f"(median {statistics.median(wall):.2f} s; CPU {min(cpu):.2f} s) over {args.repeat} runs"
    )
    verdict = "meets" if best < TARGET_S else "MISSES"
    print(f"  ratio to the {TARGET_S:g} s target: {best / TARGET_S:.2f} ({verdict} it)")

    if not args.skip_memory:
        print("memory (tracemalloc peak while simulating; Dataset nbytes), per dyad-day:")
        sizes = [(args.dyads // 8, args.days // 4), (args.dyads // 4, args.days), (args.dyads // 2, args.days // 2),
                 (args.dyads, args.days)]
        per = []
        for n, t in sizes:
            peak, nbytes = memory_at(n, t)
            per.append(peak / (n * t))
            print(f"  {n:>6,} dyads x {t:>3} days: peak {peak / 2**20:7.1f} MiB, dataset {nbytes / 2**20:7.1f} MiB, "
                  f"{peak / (n * t):5.0f} / {nbytes / (n * t):5.0f} bytes per dyad-day")
        print(f"  peak bytes per dyad-day vary by a factor {max(per) / min(per):.2f} across a "
              f"{(sizes[-1][0] * sizes[-1][1]) / (sizes[0][0] * sizes[0][1]):.0f}-fold range of sizes (1 = linear)")
    return 1 if args.check and best >= TARGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
