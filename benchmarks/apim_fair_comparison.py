"""A fair comparison of ASEM with the APIM baselines on the Kashy couples diary.

    .venv/bin/python benchmarks/apim_fair_comparison.py                             # the full run
    .venv/bin/python benchmarks/apim_fair_comparison.py --dyads 10 --draws 100      # a smoke run

Campbell, Simpson, Boldry & Kashy (2005): 103 dating couples, 14 days, read from
``../shared/data/kashy/`` next to the repository with ``examples/mappings/kashy.toml`` (the run
says SKIPPED and exits 0 where the file is absent). Every model predicts the same numbers, daily
felt insecurity (``state_avoidance``), and sees the same events: the couple's conflict as ASEM
reads it (``threat``, the mean of both partners' reports as an intensity; the 4 missing couple-days
filled by ``--missing-events``, ``person_rate`` by default, for ASEM and APIM alike). The APIMs
also take each partner's baseline avoidance as an actor and a partner predictor (``--no-avoidance``
drops it); the ASEM fits hold it as their trait wave, which is not scored.

Fitted: the ASEM variants of ``--variants`` (``name`` or ``name+residual``, e.g. ``asem+partner``
for the partners' same-day residual correlation, ``asem+ar1`` for carry-over; docs/model.md
section 17), the contemporaneous APIM and the lagged APIM (stability and influence). Then
:func:`asem_bayes.compare.fair_comparison` ranks them on the same ratings (the lagged APIM's first
days and the days after a missing rating dropped from every model), by the same leave-out unit
(``--unit``, person-week by default), under each conditioning of ``--conditioning`` (``none``:
no model uses the partner's same-day rating; ``partner``: every model scores each rating given
it), by PSIS-LOO and, where Pareto k flags a unit of any model, by exact K-fold (``--kfold``, 4
by default; every model refitted on one split).

The full run fits 6 models (2 chains x 1000 draws) and, where K-fold runs, refits each 4 times;
the refits do not depend on the conditioning (only the scoring does), so both conditionings share
them. Every finished fit and refit is written to ``--out`` and read back by a rerun with the same
settings (a rerun with other settings stops with the first that differs): an interrupted run
resumes where it stopped. ``--dyads 10 --draws 100`` runs in minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
OUTCOME = "state_avoidance"
DEFAULT_VARIANTS = ("stable", "asem", "asem+partner", "asem+ar1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from asem_bayes.options import LOO_UNITS, MISSING_EVENT_POLICIES, PARTNER_CONDITIONINGS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=SHARED_DATA, help="folder holding kashy/ (default: ../shared/data)")
    p.add_argument("--dyads", type=int, default=0, help="only the first N couples (0: all 103)")
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), help="ASEM variants, name[+residual]")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=0, help="warm-up draws (0: as many as --draws)")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--seed", type=int, default=20051)
    p.add_argument("--unit", choices=LOO_UNITS, default="person-week")
    p.add_argument("--conditioning", nargs="+", choices=PARTNER_CONDITIONINGS, default=list(PARTNER_CONDITIONINGS))
    p.add_argument("--kfold", type=int, default=4, help="folds of the exact K-fold (0: PSIS-LOO only)")
    p.add_argument("--kfold-when", choices=("unreliable", "always"), default="unreliable")
    p.add_argument("--missing-events", choices=MISSING_EVENT_POLICIES, default="person_rate")
    p.add_argument("--no-avoidance", dest="avoidance", action="store_false", help="APIMs without baseline avoidance")
    p.add_argument("--csv", type=Path, default=None, help="write each table to <csv>_<conditioning>.csv")
    p.add_argument("--out", type=Path, default=Path("sbc_runs/apim_fair_comparison"), help="checkpoint directory")
    args = p.parse_args(argv)
    args.tune = args.tune or args.draws
    return args


def load_study(args: argparse.Namespace):  # noqa: ANN201 - an xarray.Dataset, imported lazily
    """The Kashy diary, cut to ``--dyads``, with each partner's baseline avoidance as a covariate."""
    from asem_bayes.data import load_diary

    path = args.data / "kashy" / "kashy_person_period_pairwise.csv"
    if not path.is_file():
        return None
    study = load_diary(path, mapping=REPO / "examples" / "mappings" / "kashy.toml")
    if args.dyads:
        study = study.isel(dyad=slice(0, args.dyads))
    study["avoidance"] = study["trait_avoidance"].isel(wave=0, drop=True).reset_coords(drop=True)
    study["avoidance"].attrs["role"] = "covariate"
    return study


def open_store(args: argparse.Namespace, study):  # noqa: ANN201 - an asem_bayes.sbc.Store
    """The checkpoint store of ``--out``, made for these data and every setting that changes a fit."""
    from asem_bayes.kfold import data_fingerprint
    from asem_bayes.sbc import Store

    config = {
        "data": data_fingerprint(study),
        "outcome": OUTCOME,
        **{k: getattr(args, k) for k in ("draws", "tune", "chains", "seed", "unit", "kfold", "missing_events")},
        "avoidance": args.avoidance,
    }
    return Store(args.out, config)


def stored_fit(store, key: str, fit):  # noqa: ANN001, ANN201 - a Store, a thunk, a DataTree
    """The fit of ``key`` from the store, else ``fit()`` written to it."""
    key = f"fit__{key}"
    if store.has_fit(key):
        return store.read_fit(key)
    tree = fit()
    store.write_fit(key, tree)
    return tree


def diagnostics_table(fits: dict, res) -> str:  # noqa: ANN001 - a FairComparison
    """Sampler diagnostics of every fit and (where K-fold ran) of its refits, one row per model."""
    import pandas as pd

    from asem_bayes.apim import APIM_PARAMS
    from asem_bayes.diagnostics import diagnose

    rows = {}
    for name, tree in fits.items():
        names = [*APIM_PARAMS, "u", "v"] if tree.attrs.get("model") == "apim" else None
        d = diagnose(tree, names).as_dict()
        row = {
            "divergences": d["divergences"],
            "max R-hat": f"{d['max_rhat']:.3f}",
            "min bulk ESS": int(d["min_ess_bulk"]),
        }
        refits = list(res.kfold_results[name].refit_diagnostics.values()) if res.kfold_results else []
        if refits:
            row |= {
                "refits: divergences": sum(int(r["divergences"]) for r in refits),
                "refits: max R-hat": f"{max(float(r['max_rhat']) for r in refits):.3f}",
                "refits: min bulk ESS": int(min(float(r["min_ess_bulk"]) for r in refits)),
            }
        rows[name] = row
    return pd.DataFrame(rows).T.to_string()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    study = load_study(args)
    if study is None:
        print(f"SKIPPED: the Kashy diary data are not available under {args.data / 'kashy'}; nothing to compare.")
        return 0
    from asem_bayes.apim import apim_report, fit_apim
    from asem_bayes.compare import fair_comparison
    from asem_bayes.model import CompiledModel

    warnings.filterwarnings("ignore", category=FutureWarning)
    print(
        f"Kashy diary: {study.sizes['dyad']} couples x {study.sizes['day']} days; outcome {OUTCOME!r}; "
        f"{args.chains} chains x {args.draws} draws ({args.tune} warm-up)",
        flush=True,
    )
    store = open_store(args, study)
    fits, compiled = {}, {}
    # every model, ASEM and APIM, samples alike (only the target acceptance differs)
    sampling = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed, "loo_unit": None}
    t_all = time.perf_counter()
    for spec in args.variants:
        name, _, residual = spec.partition("+")
        t0 = time.perf_counter()
        compiled[spec] = CompiledModel(
            study,
            name,
            missing_events=args.missing_events,
            trajectories=False,
            residuals=(residual,) if residual else (),
        )
        fits[spec] = stored_fit(
            store,
            spec,
            lambda cm=compiled[spec]: cm.fit(study, **sampling, target_accept=0.95),
        )
        print(f"{spec}: ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    actor = ("threat", "avoidance") if args.avoidance else ("threat",)
    for kind, label in (("contemporaneous", "apim"), ("lagged", "apim_lagged")):
        t0 = time.perf_counter()
        fits[label] = stored_fit(
            store,
            label,
            lambda kind=kind: fit_apim(
                study, OUTCOME, actor, kind=kind, missing_events=args.missing_events, **sampling, target_accept=0.9
            ),
        )
        print(f"{label}: ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        print()
        print(apim_report(fits[label]))
    for cond in args.conditioning:
        t0 = time.perf_counter()
        res = fair_comparison(
            fits,
            study,
            OUTCOME,
            unit=args.unit,
            partner_conditioning=cond,
            kfold=args.kfold,
            kfold_when=args.kfold_when,
            seed=args.seed,
            compiled=compiled,
            missing_events=args.missing_events,
            tune=args.tune,
            target_accept=0.95,
            refit_store=store,
        )
        print()
        print(f"=== partner_conditioning={cond!r}, leave-out unit {args.unit} ({time.perf_counter() - t0:.0f} s) ===")
        print(res.report())
        if cond == args.conditioning[0]:  # the refits are the same under every conditioning
            print("\nSampler diagnostics (population and person parameters; the refits: summed or worst over folds):")
            print(diagnostics_table(fits, res))
        if args.csv:
            out = args.csv.with_name(f"{args.csv.stem}_{cond}.csv")
            res.table.to_csv(out)
            print(f"table written to {out}")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
