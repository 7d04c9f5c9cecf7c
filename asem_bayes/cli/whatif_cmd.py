"""``asem whatif`` and ``asem forecast``: project a saved fit into an altered world or past its study."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from asem_bayes.whatif import summarize_forecast, summarize_projection

OBSERVABLE_CHOICES = ("trait_anxiety", "trait_avoidance", "self_model", "others_model", "state_anxiety",
                      "state_avoidance")  # fmt: skip


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``asem whatif`` and ``asem forecast``."""
    w = subparsers.add_parser(
        "whatif",
        help="project a saved fit into an altered world",
        description="Rerun the fitted dynamics of posterior draws with the event process altered, and print the "
        "difference to the fitted world in questionnaire units. Alterations: EVENT[@PERSON]=PROBABILITY or "
        "EVENT[@PERSON]*=FACTOR, e.g. 'threat=0', 'safe@0*=2' (person 0 receives safe buffering twice as often), "
        "'confidence=3/7'. Events: threat, safe, soft (per threat day), confidence, dependence. See "
        "docs/model.md, section 'What-if projections', for what the projection assumes.",
    )
    w.add_argument("fit", type=Path, help="a fit saved by `asem fit` (netCDF)")
    w.add_argument("--set", dest="alterations", action="append", default=[], metavar="ALTERATION",
                   help="an alteration (repeat for several)")  # fmt: skip
    w.add_argument("--days", type=int, default=0, help="days to project past the end of the study")
    w.add_argument("--after-study", action="store_true",
                   help="apply the alterations only after the study (default: from its first day)")  # fmt: skip
    _common(w)
    w.set_defaults(func=run_whatif)

    f = subparsers.add_parser(
        "forecast",
        help="forecast a saved fit's persons past the study",
        description="Each person's working models and expected trait scores DAYS past the study, with the "
        "uncertainty of the posterior and of the future events.",
    )
    f.add_argument("fit", type=Path, help="a fit saved by `asem fit` (netCDF)")
    f.add_argument("--days", type=int, required=True, help="days past the end of the study")
    _common(f)
    f.set_defaults(func=run_forecast)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--draws", type=int, default=200, help="posterior draws used (evenly thinned)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated events")
    p.add_argument("--by", choices=("average", "person"), default="average", help="summary rows")
    p.add_argument("--plot", type=Path, default=None, help="write a fan chart (PNG) here")
    p.add_argument("--observable", choices=OBSERVABLE_CHOICES, default="trait_anxiety", help="what the chart shows")
    p.add_argument("--out", type=Path, default=None, help="write the projection (netCDF DataTree) here")


def _load(path: Path):
    from asem_bayes.asem_model import ASEMModel

    if not path.exists():
        raise FileNotFoundError(f"no fit at {path}")
    return ASEMModel.load(path)


def _finish(tree, table: pd.DataFrame, args: argparse.Namespace) -> int:
    with pd.option_context("display.width", 120, "display.max_columns", 10):
        print(table.round(3).to_string())
    if args.out is not None:
        tree.to_netcdf(args.out)
        print(f"written to {args.out}")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        from asem_bayes.whatif import plot_projection

        plot_projection(tree, args.observable).savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"fan chart written to {args.plot}")
    return 0


def run_whatif(args: argparse.Namespace) -> int:
    """Run ``asem whatif``."""
    model = _load(args.fit)
    start = model.study.sizes["day"] if args.after_study else 0
    tree = model.what_if(args.alterations, days=args.days, start=start, n_draws=args.draws, seed=args.seed)
    day = int(tree["fitted"]["day"].values[-1])
    print(f"{model!r}\nalterations: {tree.attrs['alterations']} (from day {start}); events: {tree.attrs['events']}")
    print(f"altered minus fitted world on day {day} (posterior means; 90% interval of the difference):")
    return _finish(tree, summarize_projection(tree, by=args.by), args)


def run_forecast(args: argparse.Namespace) -> int:
    """Run ``asem forecast``."""
    model = _load(args.fit)
    tree = model.what_if((), days=args.days, n_draws=args.draws, seed=args.seed)
    day = int(tree["fitted"]["day"].values[-1])
    print(f"{model!r}\nforecast of day {day} ({args.days} days past the study); events: {tree.attrs['events']}")
    print("posterior means at the study's last day and the forecast day; 90% interval of the forecast:")
    forecast = tree["fitted"].to_dataset()
    forecast.attrs.update(tree.attrs)
    return _finish(tree, summarize_forecast(forecast, by=args.by), args)
