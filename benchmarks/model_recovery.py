"""Model recovery among the variants: can each be told apart from the others on its own data?

Full size (the declared run of ``docs/validation.md``): 100 dyads x 56 days, 10 datasets per
variant, each fitted by all five variants in the joint mode and compared by PSIS-LOO with
person-days left out::

    .venv/bin/python benchmarks/model_recovery.py --reps 10 --dyads 100 --days 56 --mode joint \
        --loo-unit person-day --draws 300 --tune 300 --seed 2031 --workers 2

Resumable (same command, same ``--out``). Writes ``reports/model_recovery.md`` and the confusion
matrix figure under ``reports/figures/``, labelled with the sizes actually run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sbc_asem import (  # same directory (benchmarks/ is on sys.path when run as a script)
    md_table,
    timed_run,
)

FULL = {"reps": 10, "dyads": 100, "days": 56}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="stable,uniform,asem,buffer_enhances,asem_fatigue")
    ap.add_argument("--reps", type=int, default=FULL["reps"])
    ap.add_argument("--dyads", type=int, default=FULL["dyads"])
    ap.add_argument("--days", type=int, default=FULL["days"])
    ap.add_argument("--params", choices=("reference", "prior"), default="reference")
    ap.add_argument("--mode", choices=("conditional", "joint"), default="conditional")
    ap.add_argument("--loo-unit", default="person-week")
    ap.add_argument("--kfold", type=int, default=0, help="select by exact K-fold with this many folds (0: PSIS-LOO)")
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--cores", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=Path("sbc_runs/model_recovery"))
    ap.add_argument("--retry-failed", action="store_true", help="fit again the tasks an earlier invocation failed")
    ap.add_argument("--report", type=Path, default=Path("reports/model_recovery.md"))
    ap.add_argument("--figures", type=Path, default=Path("reports/figures"))
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from asem_bayes.recovery import run_model_recovery

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    done = timed_run(args.out, lambda: run_model_recovery(
        args.out, variants=variants, reps=args.reps, n_dyads=args.dyads, n_days=args.days, params=args.params,
        loo_unit=args.loo_unit, draws=args.draws, tune=args.tune, chains=args.chains, cores=args.cores,
        seed=args.seed, workers=args.workers, scheduler=args.scheduler, kfold=args.kfold, mode=args.mode,
        target_accept=args.target_accept, retry_failed=args.retry_failed,
    ))
    if done is None:
        return 130
    res, runs = done
    print(res.summary())
    conf, w = res.confusion(), res.mean_weights()
    pars = res.confusion(rule="parsimony")
    print(conf.round(2).to_string())
    print(pars.round(2).to_string())
    print(w.round(2).to_string())

    size = f"{args.reps} datasets per variant, {args.dyads} dyads x {args.days} days"
    reduced = (args.reps, args.dyads, args.days) != (FULL["reps"], FULL["dyads"], FULL["days"])
    args.figures.mkdir(parents=True, exist_ok=True)
    unit = args.loo_unit.replace("-", "_") + (f"_kfold{args.kfold}" if args.kfold else "")
    fig_path = args.figures / f"model_recovery_{args.reps}x{args.dyads}x{args.days}_{unit}_confusion.png"
    how = f"exact {args.kfold}-fold cross-validation" if args.kfold else "PSIS-LOO"
    res.plot_confusion(fig_path)
    hits = {v: float(conf.loc[v, v]) for v in variants if v in conf.columns and np.isfinite(conf.loc[v, v])}
    hits_p = {v: float(pars.loc[v, v]) for v in variants if v in pars.columns and np.isfinite(pars.loc[v, v])}
    loo = res.loo
    cov = res.coverage()
    lines = [
        f"# Model recovery by {how}",
        "",
        ("**REDUCED SIZE** - " if reduced else "") + f"what ran: **{size}**, true parameters: {args.params} "
        f"values; every dataset fitted by {', '.join(f'`{v}`' for v in variants)} ({args.mode} mode, nutpie, "
        f"{args.chains} chains x {args.draws} draws after {args.tune} warm-up, target acceptance "
        f"{args.target_accept}); {how} with leave-out unit `{args.loo_unit}`"
        + (f" (each fit refitted {args.kfold} times, one fold of units' ratings set missing; one fold split per "
           "dataset, shared by the candidates, each person's units spread over the folds: "
           "`asem_bayes.kfold.kfold_split`)" if args.kfold else "")
        + f"; {args.workers} worker process(es); seed {args.seed}.",
        f"Full-size command: `.venv/bin/python benchmarks/model_recovery.py --reps {FULL['reps']} --dyads "
        f"{FULL['dyads']} --days {FULL['days']} --mode joint --loo-unit person-day --draws 300 --tune 300 "
        "--seed 2031 --workers 2` (resumable); this report's command: "
        f"`.venv/bin/python benchmarks/model_recovery.py {' '.join(argv if argv is not None else sys.argv[1:])}`.",
        "",
        "## Result",
        "",
        f"- Code: fits made on {'; '.join(sorted({r.get('code', 'unknown') for r in runs}))}.",
        f"- {len(res.choices)} datasets, {len(loo)} fits, {len(res.failed)} failed; wall time of the fitting "
        f"{sum(r['wall_s'] for r in runs):.0f} s in {len(runs)} invocation(s) "
        f"({', '.join(str(r['fitted']) + ' fits' for r in runs)}), compiles included, on a 2-core machine shared "
        "with other jobs; 1-minute load average during each invocation (mean / max; the run's own "
        f"{args.workers} workers x {args.chains} chains add about {args.workers * args.chains}): "
        + ", ".join(f"{r['load_mean']} / {r['load_max']}" if "load_mean" in r else "not recorded" for r in runs)
        + ".",
        "- Share of datasets whose highest-elpd variant is the true one: "
        + ", ".join(f"`{v}` {h:.0%}" for v, h in hits.items()) + " (target: at least 80% each at full size).",
        "- Share of datasets whose simplest variant about as good as the best (elpd within 4, or within 2 "
        "standard errors of the difference; fewest informed population parameters) is the true one: "
        + ", ".join(f"`{v}` {h:.0%}" for v, h in hits_p.items()) + ". The variants are nested (`stable` in "
        "`uniform` in `asem` in `buffer_enhances`), so the highest elpd often goes to a richer variant that "
        "fits the smaller one's data as well; this rule, fixed before the full-size run, keeps the simpler one.",
    ]
    if len(loo) and args.kfold:
        lines.append(
            f"- Selection by exact K-fold: no importance sampling, so no Pareto k applies; fits with divergences: "
            f"{int((loo['divergences'] > 0).sum())} of {len(loo)} (full-data fits)."
        )
    elif len(loo):
        lines.append(
            f"- Fits with leave-out units of high Pareto k: {int((loo['k_bad'] > 0).sum())} of {len(loo)} "
            f"(median {float(loo['k_bad'].median()):.0f} of {int(loo['n_units'].iloc[0])} units); fits with "
            f"divergences: {int((loo['divergences'] > 0).sum())}."
        )
        share_bad = float((loo["k_bad"] / loo["n_units"]).median())
        if share_bad > 0.1:
            lines.append(
                f"- **Caveat**: in the median fit {share_bad:.0%} of the leave-out units have Pareto k above ArviZ's "
                "threshold, so PSIS-LOO is unreliable there and the selections above are not trustworthy. A "
                f"`{args.loo_unit}` unit removes data that informs that unit's own person-level parameters, so the "
                "leave-one-out posterior is far from the full posterior. Exact refits leaving units out are "
                "needed for a sound comparison: `--loo-unit person-week --kfold 4`."
            )
    for k, msg in sorted(res.failed.items()):
        lines.append(f"- {k} failed: {msg}")
    conf.index.name = pars.index.name = "true \\ selected"
    w.index.name = "true \\ candidate"
    diffs = pd.DataFrame()
    if len(loo):
        own = loo[loo["candidate"] == loo["true"]].set_index(["true", "rep"])["elpd"]
        d = loo.assign(d=loo["elpd"] - own.reindex(pd.MultiIndex.from_frame(loo[["true", "rep"]])).to_numpy())
        diffs = d.pivot_table(index="true", columns="candidate", values="d", aggfunc="mean")
        diffs = diffs.reindex(index=variants, columns=variants)
        diffs.index.name = "true \\ candidate"
    lines += [
        "",
        "## Confusion matrix (share of datasets; rows: true variant)",
        "",
        md_table(conf, ".2f"),
        "",
        "## Confusion matrix, simplest variant about as good as the best (share of datasets; rows: true variant)",
        "",
        md_table(pars, ".2f"),
        "",
        "## Mean elpd of each candidate minus that of the true variant's fit",
        "",
        md_table(diffs, ".1f") if len(diffs) else "(no fits)",
        "",
        "## Mean stacking weights",
        "",
        md_table(w, ".2f"),
        "",
        f"![confusion matrix](figures/{fig_path.name})",
        "",
    ]
    if not cov.empty:
        c = cov.reset_index()
        summary = c.groupby("variant").agg(coverage=("coverage", "mean"), contraction=("contraction", "mean"))
        summary.index.name = "true variant"
        lines += [
            "## Parameter recovery of the true variant's own fit",
            "",
            "Mean over the population parameters the data inform (event-model parameters are left out in the "
            "conditional mode) of the share of 90% intervals covering the truth, and of the posterior "
            "contraction (1 - posterior/prior variance).",
            "",
            md_table(summary, ".2f"),
            "",
        ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines))
    print(f"report: {args.report}; fitting wall time over all invocations {sum(r['wall_s'] for r in runs):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
