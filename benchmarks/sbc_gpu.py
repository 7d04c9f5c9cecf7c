"""Vectorised SBC of ``asem`` on an accelerator (issue 7): many NUTS fits at once with JAX.

The figure of the issue: 1,000 simulations of 50 dyads x 28 days on one H100 in under 10 minutes,
every population parameter inside its simultaneous 95% ECDF band::

    python benchmarks/sbc_gpu.py --sims 1000 --batch 250 --wheels wheels/   # on the GPU machine
    python benchmarks/sbc_gpu.py --sims 50 --batch 50                       # the CPU, same path
    python benchmarks/sbc_gpu.py --sims 50 --backend nutpie --workers 2     # the CPU path of the SBC issue

Each run prints its figures: device, sizes, compile and wall seconds, fits per second,
divergences and R-hat, and the uniformity result (which quantities leave their band). Give the
nutpie run's fits per second as ``--baseline-fps`` to print the speed-up.

Self-contained: with ``--wheels DIR`` it first installs the packages it needs from wheels in
``DIR`` (``pip install --no-index --find-links DIR``: no network needed), e.g. a directory made
beforehand with ``pip download "jax[cuda12]" "blackjax<1.5" -d wheels/``; it imports the
project from the repository it lives in. The run is resumable (same ``--out``); simulation ``i``
of a given ``--seed`` is the same dataset for every backend, so the nutpie and JAX runs
calibrate the same simulations.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install(wheels: Path, packages: list[str]) -> None:
    """Install ``packages`` from the wheels in ``wheels`` only (no index, no network)."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels), *packages]
    print("installing:", " ".join(packages), flush=True)
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, default=1000, help="simulations (default 1000)")
    ap.add_argument("--dyads", type=int, default=50)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--batch", type=int, default=250, help="datasets fitted at once and checkpointed (default 250)")
    ap.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000, as the CPU SBC)")
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin", type=int, default=20)
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--max-tree-depth", type=int, default=10)
    ap.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    ap.add_argument("--backend", choices=("jax-vmap", "nutpie"), default="jax-vmap")
    ap.add_argument("--workers", type=int, default=2, help="nutpie only: worker processes")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--prob", type=float, default=0.95)
    ap.add_argument("--out", type=Path, default=None, help="run directory (default sbc_runs/sbc_gpu_<backend>_...)")
    ap.add_argument("--wheels", type=Path, default=None, help="install the JAX stack from wheels in this directory")
    ap.add_argument(
        "--packages",
        default="jax[cuda12],blackjax<1.5",
        help="comma-separated requirements installed from --wheels (default 'jax[cuda12],blackjax<1.5')",
    )
    ap.add_argument("--baseline-fps", type=float, default=None, help="fits per second of the CPU path, for the ratio")
    args = ap.parse_args(argv)

    if args.wheels is not None:
        install(args.wheels, [p for p in args.packages.split(",") if p])
    sys.path.insert(0, str(ROOT))

    from asem_bayes.sbc import AsemGenerator, JaxVmapBackend, NutpieBackend, run_sbc

    gen = AsemGenerator("asem", args.dyads, args.days, mode="conditional")
    common = dict(draws=args.draws, tune=args.tune, chains=args.chains, thin=args.thin)
    if args.backend == "jax-vmap":
        import jax

        device = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
        backend = JaxVmapBackend(
            "asem",
            mode="conditional",
            target_accept=args.target_accept,
            max_tree_depth=args.max_tree_depth,
            batch_size=min(args.batch, args.sims),
            x64=not args.float32,
            **common,
        )
        workers = 0
    else:
        import os

        device = f"cpu: {os.cpu_count()} cores, nutpie, {args.workers} worker process(es)"
        backend = NutpieBackend("asem", mode="conditional", target_accept=args.target_accept, **common)
        workers = args.workers
    tag = f"{args.backend}_{args.dyads}x{args.days}_{args.draws}d{args.thin}t_{'f32' if args.float32 else 'f64'}"
    out = args.out or ROOT / "sbc_runs" / f"sbc_gpu_{tag}"
    print(f"device: {device}")
    print(
        f"SBC of asem (conditional mode, exogenous events): {args.sims} simulations of {args.dyads} dyads x "
        f"{args.days} days; {args.chains} chains x {args.draws} draws after {args.tune} warm-up, thinned by "
        f"{args.thin} ({backend.n_ranks} ranked draws); backend {args.backend}"
        + (f", batch {backend.batch_size}" if args.backend == "jax-vmap" else ""),
        flush=True,
    )
    t0 = time.perf_counter()
    res = run_sbc(gen, backend, args.sims, out, seed=args.seed, workers=workers, progress=True)
    wall = time.perf_counter() - t0

    diag = res.diagnostics
    jax_run = args.backend == "jax-vmap"
    compile_s = float(diag["compile_seconds"].max()) if "compile_seconds" in diag else float("nan")
    fitted = res.fitted_now
    uni = res.uniformity(args.prob)
    params = uni[uni["kind"] == "parameter"]
    figures = {
        "device": device,
        "backend": args.backend,
        "sims": args.sims,
        "fitted_now": fitted,
        "failed": len(res.failed),
        "dyads": args.dyads,
        "days": args.days,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "thin": args.thin,
        "batch": backend.batch_size if args.backend == "jax-vmap" else None,
        "float": "float32" if args.float32 else "float64",
        "wall_seconds": round(wall, 2),
        "compile_seconds": round(compile_s, 2),
        "fits_per_second": round(fitted / wall, 4) if fitted else None,
        "fits_per_second_excl_compile": (
            round(fitted / (wall - compile_s), 4) if fitted and jax_run and wall > compile_s else None
        ),
        "fits_with_divergences": int((diag["divergences"] > 0).sum()) if "divergences" in diag else None,
        "fits_rhat_above_1.01": int((diag["max_rhat"] > 1.01).sum()) if "max_rhat" in diag else None,
        "median_min_ess_bulk": float(diag["min_ess_bulk"].median()) if "min_ess_bulk" in diag else None,
        "parameters_inside_bands": f"{int(params['uniform'].sum())} of {len(params)}",
        "quantities_inside_bands": f"{int(uni['uniform'].sum())} of {len(uni)}",
        "outside_bands": list(uni.index[~uni["uniform"]]),
    }
    if args.baseline_fps and figures["fits_per_second"]:
        figures["speedup_vs_baseline"] = round(figures["fits_per_second"] / args.baseline_fps, 2)
    print(res.summary(args.prob))
    print(uni.to_string(float_format=lambda x: f"{x:.3g}"))
    print("FIGURES " + json.dumps(figures))
    (Path(out) / "figures.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
