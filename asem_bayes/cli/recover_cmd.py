"""``asem recover``: model recovery (and parameter recovery) by PSIS-LOO, resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from asem_bayes.cli.fit_cmd import correlated_params
from asem_bayes.options import FIT_BACKENDS, LOO_UNITS, MODES, RESIDUALS


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recover",
        help="model recovery: simulate from each variant, fit every candidate, pick by PSIS-LOO (resumable)",
        description=(
            "Simulate REPS studies from each variant, fit every candidate variant to each, compare by PSIS-LOO "
            "with whole persons (or person-weeks) left out, and report the confusion matrix, mean stacking "
            "weights and the parameter recovery of the true variant. Each fit is stored under OUT/fits; the "
            "same command resumes."
        ),
    )
    p.add_argument("--variants", type=_names, default=["stable", "uniform", "asem", "buffer_enhances"],
                   help="comma-separated true variants (default stable,uniform,asem,buffer_enhances)")
    p.add_argument("--candidates", type=_names, default=None,
                   help="comma-separated fitted variants (default: --variants)")
    p.add_argument("--reps", type=int, default=10, help="datasets per true variant (default 10)")
    p.add_argument("--dyads", type=int, default=100, help="dyads per study (default 100)")
    p.add_argument("--days", type=int, default=56, help="diary days per study (default 56)")
    p.add_argument("--params", choices=("reference", "prior"), default="reference",
                   help="true parameters: the variants' reference values or a prior draw per dataset")
    p.add_argument("--mode", choices=MODES, default="conditional")
    p.add_argument("--loo-unit", choices=LOO_UNITS, default="person-week")
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--cores", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="run directory (created; reused to resume)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (0: inline; default 1, or 0 with --backend jax-vmap)")
    p.add_argument("--backend", choices=FIT_BACKENDS, default="nutpie",
                   help="nutpie (default) or jax-vmap: BATCH fits of a candidate at once with JAX, for a GPU")
    p.add_argument("--batch-size", type=int, default=50, help="jax-vmap: fits per batch (default 50)")
    p.add_argument("--kfold", type=int, default=0,
                   help="select by exact K-fold at --loo-unit with this many folds (K more fits per fit; "
                        "use --loo-unit person-week) instead of PSIS-LOO (default 0: PSIS-LOO)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://host:8786): run there instead; every worker needs asem_bayes "
                        "installed, the results come back here and are written to OUT")
    p.add_argument("--residuals", choices=RESIDUALS, default=None,
                   help="simulate and fit every variant with this residual option (docs/model.md section 17)")
    p.add_argument("--person-correlation", type=correlated_params, default=(), metavar="NAMES",
                   help="simulate and fit every variant with correlated effects of these person-level "
                   "parameters, e.g. 's0,o0' (docs/model.md section 18)")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asem_bayes.recovery import run_model_recovery

    res = run_model_recovery(
        args.out,
        variants=args.variants,
        candidates=args.candidates,
        reps=args.reps,
        n_dyads=args.dyads,
        n_days=args.days,
        params=args.params,
        mode=args.mode,
        loo_unit=args.loo_unit,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        cores=args.cores,
        seed=args.seed,
        workers=(0 if args.backend == "jax-vmap" else 1) if args.workers is None else args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
        backend=args.backend,
        batch_size=args.batch_size,
        kfold=args.kfold,
        residuals=(args.residuals,) if args.residuals else (),
        person_correlation=args.person_correlation,
    )
    print(res.summary())
    print("\nconfusion (rows: true variant, columns: selected; share of datasets)")
    print(res.confusion().to_string(float_format=lambda x: f"{x:.2f}"))
    print("\nmean stacking weights")
    print(res.mean_weights().to_string(float_format=lambda x: f"{x:.2f}"))
    res.confusion().to_csv(args.out / "confusion.csv")
    res.mean_weights().to_csv(args.out / "stacking_weights.csv")
    res.loo.to_csv(args.out / "loo.csv", index=False)
    cov = res.coverage()
    if not cov.empty:
        cov.to_csv(args.out / "parameter_recovery.csv")
        print("\nparameter recovery (coverage of 90% intervals, contraction):", args.out / "parameter_recovery.csv")
    if not args.no_plots and len(res.choices):
        import matplotlib

        matplotlib.use("Agg")
        res.plot_confusion(args.out / "confusion.png")
    print(f"wall time {res.run_seconds:.0f} s; results in {args.out}")  # the run's counts are in the summary
    return 0
