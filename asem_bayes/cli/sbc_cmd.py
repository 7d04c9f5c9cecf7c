"""``asem sbc``: simulation-based calibration of a variant, resumable, on a process pool or Dask."""

from __future__ import annotations

import argparse
from pathlib import Path

from asem_bayes.cli.fit_cmd import correlated_params
from asem_bayes.options import FIT_BACKENDS, MODES, RESIDUALS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sbc",
        help="simulation-based calibration of a variant (resumable)",
        description=(
            "Prior draw -> simulate -> fit -> rank, for every population parameter, the data's log-likelihood "
            "and the working models' change. Each finished fit is stored under OUT/fits; running the same "
            "command again resumes. The conditional mode is calibrated on data with exogenous events, the "
            "joint mode on the full simulator (docs/model.md section 9)."
        ),
    )
    p.add_argument("--variant", default="asem", help="variant to calibrate (default asem)")
    p.add_argument("--mode", choices=MODES, default=None, help="model mode (default: the variant's)")
    p.add_argument("--sims", type=int, default=200, help="number of simulations (default 200)")
    p.add_argument("--dyads", type=int, default=50, help="dyads per simulated study (default 50)")
    p.add_argument("--days", type=int, default=28, help="diary days per simulated study (default 28)")
    p.add_argument("--likert", type=int, default=None, help="simulate 1..K Likert ratings instead of continuous ones")
    p.add_argument("--residuals", choices=RESIDUALS, default=None,
                   help="calibrate the variant with this residual option (docs/model.md section 17)")
    p.add_argument("--person-correlation", type=correlated_params, default=(), metavar="NAMES",
                   help="calibrate the variant with correlated effects of these person-level parameters, "
                   "e.g. 's0,o0' (docs/model.md section 18)")
    p.add_argument("--draws", type=int, default=500, help="posterior draws per chain (default 500)")
    p.add_argument("--tune", type=int, default=500, help="warm-up draws per chain (default 500)")
    p.add_argument("--chains", type=int, default=2, help="chains per fit (default 2)")
    p.add_argument("--thin", type=int, default=10, help="keep every THIN-th draw for the ranks (default 10)")
    p.add_argument("--target-accept", type=float, default=0.8)
    p.add_argument("--cores", type=int, default=None, help="threads per fit (default: one per chain)")
    p.add_argument(
        "--backend",
        choices=FIT_BACKENDS,
        default="nutpie",
        help="nutpie: one compiled fit per dataset on a process pool (default); jax-vmap: BATCH datasets at once "
        "with JAX (vmap over datasets and chains, blackjax NUTS), for a GPU",
    )
    p.add_argument("--batch-size", type=int, default=100, help="jax-vmap: datasets per batch and checkpoint (100)")
    p.add_argument("--float32", action="store_true", help="jax-vmap: compute in float32 (default float64)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="run directory (created; reused to resume)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes, each compiling once (0: inline; default 1, or 0 with --backend jax-vmap)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://host:8786): run there instead; every worker needs asem_bayes "
        "installed, the results come back here and are written to OUT",
    )
    p.add_argument("--prob", type=float, default=0.95, help="level of the simultaneous ECDF bands (default 0.95)")
    p.add_argument("--retry-failed", action="store_true", help="refit simulations that failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a quantity leaves its band")
    p.add_argument(
        "--thin-to-ess",
        action="store_true",
        help="rank each fit on at most as many draws as its smallest ESS (re-ranks stored fits, no refitting)",
    )
    p.add_argument(
        "--mock",
        choices=("calibrated", "narrow", "no-likelihood"),
        default=None,
        help="run the toy conjugate problem instead (seconds): exact posterior, too narrow a posterior, or "
        "the likelihood left out",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asem_bayes.sbc import AsemGenerator, JaxVmapBackend, MockBackend, NormalGenerator, NutpieBackend, run_sbc

    if args.mock:
        gen = NormalGenerator()
        backend = MockBackend(
            sd_scale=0.5 if args.mock == "narrow" else 1.0, use_likelihood=args.mock != "no-likelihood"
        )
    else:
        options = dict(residuals=(args.residuals,) if args.residuals else (),
                       person_correlation=args.person_correlation)
        gen = AsemGenerator(args.variant, args.dyads, args.days, mode=args.mode, likert=args.likert, **options)
        common = dict(
            **options,
            mode=gen.mode,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            thin=args.thin,
            target_accept=args.target_accept,
        )
        if args.backend == "jax-vmap":
            backend = JaxVmapBackend(args.variant, batch_size=args.batch_size, x64=not args.float32, **common)
        else:
            backend = NutpieBackend(args.variant, cores=args.cores, **common)
    workers = (0 if args.backend == "jax-vmap" and not args.mock else 1) if args.workers is None else args.workers
    res = run_sbc(
        gen,
        backend,
        args.sims,
        args.out,
        seed=args.seed,
        workers=workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
    )
    if args.thin_to_ess:
        from asem_bayes.sbc import load_sbc

        run, run_seconds = res.run, res.run_seconds
        res = load_sbc(args.out, thin_to_ess=True, workers=workers)
        res.run, res.run_seconds = run, run_seconds
    print(res.summary(args.prob))
    uni = res.uniformity(args.prob)
    print(uni.to_string(float_format=lambda x: f"{x:.3g}"))
    uni.to_csv(args.out / "uniformity.csv")
    res.to_datatree().to_netcdf(args.out / "sbc_results.nc")
    if not args.no_plots and res.n_sims >= 2:
        import matplotlib

        matplotlib.use("Agg")
        fig_dir = args.out / "figures"
        fig_dir.mkdir(exist_ok=True)
        res.plot_ecdf(fig_dir / "ecdf_diff.png", prob=args.prob)
        res.plot_ranks(fig_dir / "rank_hist.png")
        res.plot_zscores(fig_dir / "z_contraction.png")
        print(f"figures in {fig_dir}")
    print(f"wall time {res.run_seconds:.0f} s; results in {args.out}")  # the run's counts are in the summary
    return 1 if args.strict and not bool(uni["uniform"].all()) else 0
