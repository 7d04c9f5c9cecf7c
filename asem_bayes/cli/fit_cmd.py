"""``asem fit``: fit a variant to a diary file and save the result as a netCDF DataTree."""

from __future__ import annotations

import argparse
from pathlib import Path

from asem_bayes.options import CORRELATED_PARAMS, LOO_UNITS, MISSING_EVENT_POLICIES, MODES, RESIDUALS, SAMPLERS
from asem_bayes.study import SHARED_EVENT_POLICIES, SharedEventPolicy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit an ASEM variant to a diary study",
        description="Fit an ASEM variant to a study (.nc from `asem simulate`, or a .csv/.parquet diary table).",
    )
    p.add_argument(
        "data", type=Path, help="study .nc, or a diary table (.csv/.parquet) in long layout or per --mapping"
    )
    p.add_argument("--variant", default="asem")
    p.add_argument("--mapping", type=Path, help="column mapping (.toml/.yaml/.json) for foreign diary files")
    p.add_argument("--mode", choices=MODES, help="condition on events or also score them")
    p.add_argument("--sampler", default="nutpie", choices=SAMPLERS)
    p.add_argument("--draws", type=int, default=None,
                   help="draws per chain (default: 1600 with nutpie, 1000 with the others)")
    p.add_argument("--tune", type=int, default=None,
                   help="warm-up draws per chain (default: 400 with nutpie, 1000 with the others)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--target-accept",
        type=float,
        default=0.9,
        help="target acceptance of the step-size adaptation (0.9 or more for final analyses)",
    )
    p.add_argument("--missing-events", default="error", choices=MISSING_EVENT_POLICIES)
    p.add_argument(
        "--shared-events",
        choices=SHARED_EVENT_POLICIES,
        help="diary tables: how partners' differing reports of a shared event (threat, dependence) are "
        "combined (default: the mapping's 'combine', else error; docs/model.md section 12)",
    )
    p.add_argument(
        "--loo-unit",
        default="person-week",
        choices=LOO_UNITS,
        help="leave-out unit of the stored log-likelihood (whole persons make PSIS-LOO unreliable)",
    )
    p.add_argument(
        "--covariates",
        default=None,
        metavar="FORMULAS",
        help="covariates of person-level parameters, e.g. 's0 ~ arm; theta_pos_s ~ arm' (variables of the "
        "study with dims dyad[, person]; docs/model.md section 16)",
    )
    p.add_argument(
        "--residuals",
        choices=RESIDUALS,
        default=None,
        help="an extension of the daily ratings' residuals: 'ar1' (carry-over from day to day) or 'partner' "
        "(the partners' same-day correlation); continuous ratings only (docs/model.md section 17)",
    )
    p.add_argument(
        "--person-correlation",
        type=correlated_params,
        default=(),
        metavar="NAMES",
        help="person-level parameters whose effects are correlated across persons (an LKJ(2) prior on their "
        f"correlation), comma-separated, e.g. 's0,o0'; from {', '.join(CORRELATED_PARAMS)}, those the variant "
        "has (docs/model.md section 18)",
    )
    p.add_argument("--ppc", action="store_true", help="add posterior predictive draws")
    p.add_argument(
        "--schema-coordinates",
        action="store_true",
        help="sample every parameter in its schema coordinate instead of the default sheared sampling "
        "coordinates (same posterior; docs/model.md section 4)",
    )
    p.add_argument("--out", type=Path, required=True, help="output .nc (ArviZ DataTree)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (by default: a progress bar on a terminal, else timestamped lines)",
    )
    p.set_defaults(func=run)


def correlated_params(text: str) -> tuple[str, ...]:
    """``--person-correlation``'s value, ``"s0,o0"``, as names checked against
    :data:`asem_bayes.options.CORRELATED_PARAMS` (the variant checks that it has them)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in CORRELATED_PARAMS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown person-level parameter(s) {bad}; choose from {CORRELATED_PARAMS}")
    return names


def read_study(path: Path, mapping: Path | None = None, shared_events: SharedEventPolicy | None = None):
    """A study Dataset from a .nc file, a long table, or any layout with a mapping.

    ``shared_events`` is passed to :func:`asem_bayes.data.load_diary` for diary tables (a .nc
    study already holds one value per shared event and dyad-day).
    """
    import pandas as pd
    import xarray as xr

    import asem_bayes as ab

    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if mapping is not None:
        from asem_bayes.data import load_diary

        return load_diary(path, mapping=mapping, shared_events=shared_events)
    if path.suffix == ".nc":
        return xr.open_dataset(path, engine="h5netcdf").load()
    if path.suffix in (".csv", ".parquet"):
        try:
            from asem_bayes.data import load_diary
        except ImportError:  # pragma: no cover - data module is part of the package
            df = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
            return ab.from_long(df, shared_events=shared_events or "error")
        return load_diary(path, shared_events=shared_events)
    raise ValueError(f"unknown study format {path.suffix!r}: use .nc, .csv or .parquet (or --mapping)")


def run(args: argparse.Namespace) -> int:
    from asem_bayes.asem_model import ASEMModel, SamplerConfig
    from asem_bayes.diagnostics import report

    study = read_study(args.data, args.mapping, args.shared_events)
    notes = study.attrs.get("load_report")
    if notes:
        print(notes)
    try:
        from asem_bayes.coverage import uninformed_parameters
        from asem_bayes.diagnostics import uninformed_lines

        missing = uninformed_parameters(study, args.variant, args.mode)
        if missing:
            print(f"these data cannot inform {len(missing)} parameter(s) (their posterior will be their prior):")
            print("\n".join(uninformed_lines(missing)))
    except ImportError:  # pragma: no cover
        pass
    config = SamplerConfig(
        sampler=args.sampler, draws=args.draws, tune=args.tune, chains=args.chains, target_accept=args.target_accept
    )
    print(f"fitting {args.variant!r} with {args.sampler} ({config.chains} chains x {config.draws} draws after "
          f"{config.tune} warm-up)...", flush=True)
    model = ASEMModel(
        study,
        args.variant,
        mode=args.mode,
        missing_events=args.missing_events,
        config=config,
        reparam=not args.schema_coordinates,
        person_covariates=args.covariates,
        residuals=(args.residuals,) if args.residuals else (),
        person_correlation=args.person_correlation,
    )
    result = model.fit(
        args.seed,
        loo_unit=args.loo_unit,
        posterior_predictive=args.ppc,
        progressbar=not args.no_progress,  # plain lines with timings when stderr is a log file
    )
    truth = None
    if any(v.attrs.get("role") == "parameter" for v in study.data_vars.values()):
        import asem_bayes as ab

        truth = ab.true_params(study)
    print(report(result, truth=truth))
    print_effects(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved {args.out} (reload with asem_bayes.ASEMModel.load)")
    return 0


def print_effects(model) -> None:
    """The fit's dynamics in questionnaire units (:func:`asem_bayes.whatif.observable_effects`), for
    variants whose working models change; flagged when the data cannot inform the biases."""
    from asem_bayes.diagnostics import uninformed
    from asem_bayes.registry import get_variant
    from asem_bayes.whatif import format_effects

    if not get_variant(model.variant).changes:
        return
    print()
    print("\n".join(format_effects(model.effects(), uninformed=uninformed(model.idata))))
