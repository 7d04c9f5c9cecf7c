"""SBC on a loopback Dask cluster against the local process pool: throughput and failures.

Starts a real ``dask scheduler`` and ``--workers`` ``dask worker`` processes (``--threads`` threads
each) on 127.0.0.1 (:class:`asem_bayes.sbc.loopback.LoopbackCluster`: fresh processes, nothing
imported beforehand), runs a small SBC through them, then the same SBC on the local process pool
with ``--pool`` processes, and prints one row per engine: wall time, fits per minute, fitted and
failed (for the cluster also its start-up time, which the pool's wall time includes: it starts
its processes inside the run). ``--repeat`` reruns the cluster part with fresh workers (failure rate of fresh workers)::

    .venv/bin/python benchmarks/cluster_throughput.py --sims 16 --repeat 3

Both runs include compiling the model once per worker process, as a real run does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def one_run(out: Path, args: argparse.Namespace, **engine) -> dict:
    from asem_bayes.sbc import AsemGenerator, NutpieBackend, run_sbc
    from asem_bayes.sbc.runner import Store

    gen = AsemGenerator(args.variant, args.dyads, args.days)
    backend = NutpieBackend(args.variant, draws=args.draws, tune=args.tune, chains=1, thin=5)
    t0 = time.perf_counter()
    run_sbc(gen, backend, args.sims, out, seed=args.seed, progress=False, **engine)
    wall = time.perf_counter() - t0
    store = Store(out)
    failed = store.failed()
    return {
        "wall_s": round(wall, 1),
        "fitted": len(store.keys()),
        "failed": len(failed),
        "fits_per_min": round(60 * len(store.keys()) / wall, 1),
        "errors": sorted(set(failed.values()))[:3],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="stable")
    p.add_argument("--sims", type=int, default=16)
    p.add_argument("--dyads", type=int, default=4)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--draws", type=int, default=100)
    p.add_argument("--tune", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="dask worker processes (default 2)")
    p.add_argument("--threads", type=int, default=2, help="threads per dask worker (default 2)")
    p.add_argument("--pool", type=int, default=2, help="local pool processes (default 2; 0 skips the pool run)")
    p.add_argument("--repeat", type=int, default=1, help="cluster runs, each with fresh workers (default 1)")
    args = p.parse_args(argv)

    from asem_bayes.sbc.loopback import LoopbackCluster

    rows = []
    with tempfile.TemporaryDirectory(prefix="asem-cluster-bench-") as tmp:
        for r in range(args.repeat):
            t0 = time.perf_counter()
            with LoopbackCluster(args.workers, args.threads, workdir=Path(tmp) / f"cluster{r}") as cluster:
                start = time.perf_counter() - t0
                row = one_run(Path(tmp) / f"cluster{r}" / "out", args, scheduler=cluster.address)
            row["fits_per_min_with_start"] = round(60 * row["fitted"] / (row["wall_s"] + start), 1)
            rows.append({"engine": f"loopback dask {args.workers}x{args.threads} threads", "start_s": round(start, 1),
                         **row})
            print(json.dumps(rows[-1]), flush=True)
        if args.pool:
            rows.append({"engine": f"process pool {args.pool}", **one_run(Path(tmp) / "pool", args, workers=args.pool)})
            print(json.dumps(rows[-1]), flush=True)
    cl = [r for r in rows if r["engine"].startswith("loopback")]
    total, failed = sum(r["fitted"] + r["failed"] for r in cl), sum(r["failed"] for r in cl)
    print(f"cluster failures: {failed} of {total} fits over {len(cl)} run(s) with fresh workers")
    if args.pool:
        for col, what in (("fits_per_min", "run only"), ("fits_per_min_with_start", "counting the cluster's start")):
            ratio = (sum(r[col] for r in cl) / len(cl)) / rows[-1]["fits_per_min"]
            print(f"throughput loopback cluster / process pool ({what}): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
