"""Bias from missed diary days: posterior means with missed days against the same study without.

Each replicate simulates one ``asem`` study twice with the same seed: once with no missed days
and once where each person skips a whole day with probability ``--missing-days`` (default 0.2;
ratings and reported events hidden, a shared event only when both partners missed the day). The
simulator draws the parameters, the events and the ratings from streams of their own, so both
studies hold the same truth, events and ratings; only what is hidden differs. Events are
exogenous (fixed daily rates, as in SBC of the conditional mode, docs/model.md section 9) and
the fits condition on them. The study with missed days is fitted once per ``--policies`` entry
(``missing_events``: ``person_rate`` imputes each missed event at the person's rate, buffering
given the day's threat; ``absent`` sets it to 0; docs/model.md section 10).

Printed per population parameter the likelihood informs (the event model is not, in the
conditional mode): the posterior mean without and with missed days, the posterior SD without,
the shift of the mean in posterior SDs, and the Monte Carlo error of that shift (in SDs; a
shift within about two of it is sampling noise). Then the mean absolute shift in posterior SDs.
A couple whose partners both missed its first days starts its diary later (docs/model.md
section 10), which is part of what is measured.

Usage::

    python benchmarks/missing_events_bias.py [--dyads 20] [--days 28] [--draws 200] [--tune 200]
        [--chains 2] [--missing-days 0.2] [--policies person_rate absent] [--reps 1] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np
import xarray as xr

import asem_bayes as ab
from asem_bayes.diagnostics import diagnose
from asem_bayes.inputs import MISSING_EVENT_POLICIES
from asem_bayes.model import CompiledModel
from asem_bayes.sbc import DEFAULT_EXOGENOUS_EVENTS


def study(args: argparse.Namespace, missing_days: float, seed: int) -> xr.Dataset:
    """One exogenous-event ``asem`` study of the benchmark's size."""
    design = ab.Design(missing_days=missing_days, exogenous_events=DEFAULT_EXOGENOUS_EVENTS)
    return ab.simulate("asem", args.dyads, args.days, seed=seed, design=design)


def moments(fit: xr.DataTree, names: list[str]) -> dict[str, np.ndarray]:
    """Posterior mean, SD and Monte Carlo error of the mean of each parameter, in ``names`` order."""
    post = fit.posterior.to_dataset()[names]
    mcse = az.mcse(post, method="mean")
    return {
        "mean": np.array([float(post[n].mean()) for n in names]),
        "sd": np.array([float(post[n].std()) for n in names]),
        "mcse": np.array([float(mcse[n]) for n in names]),
    }


def run_fit(cm: CompiledModel, data: xr.Dataset, args: argparse.Namespace, label: str) -> xr.DataTree:
    t0 = time.perf_counter()
    fit = cm.fit(data, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, cores=2, loo_unit=None)
    d = diagnose(fit)
    print(
        f"  {label}: {time.perf_counter() - t0:.0f} s, {d.divergences} divergences, max R-hat {d.max_rhat:.3f}",
        flush=True,
    )
    return fit


def print_table(names: list[str], truth: dict, full: list[dict], missed: list[dict], policy: str) -> float:
    """Per-parameter shift table of one policy; returns the mean absolute shift in SDs.

    Without any bias the posterior mean still moves when data are hidden: by about
    ``sqrt(sd_missed^2 - sd_none^2)`` (the information lost; exact in expectation for nested
    data under a correct model), plus the Monte Carlo error of both means. ``noise/sd`` is that
    spread in SDs; a shift within about two of it is not evidence of bias.
    """
    pairs = list(zip(full, missed, strict=True))
    shift = np.mean([(m["mean"] - f["mean"]) / f["sd"] for f, m in pairs], axis=0)
    var = [
        (f["mcse"] ** 2 + m["mcse"] ** 2 + np.maximum(m["sd"] ** 2 - f["sd"] ** 2, 0.0)) / f["sd"] ** 2
        for f, m in pairs
    ]
    noise = np.sqrt(np.mean(var, axis=0) / len(pairs))  # of the replicate mean
    print(f"\nmissing_events={policy!r}")
    head = ("parameter", "truth", "mean none", "mean missed", "sd none", "sd missed", "shift/sd", "noise/sd")
    print("{:16s} {:>8s} {:>10s} {:>11s} {:>8s} {:>9s} {:>9s} {:>8s}".format(*head))
    for i, n in enumerate(names):
        t = f"{float(truth[n]):8.3f}" if n in truth else f"{'':8s}"
        print(
            f"{n:16s} {t} {full[0]['mean'][i]:10.3f} {missed[0]['mean'][i]:11.3f} {full[0]['sd'][i]:8.3f} "
            f"{missed[0]['sd'][i]:9.3f} {shift[i]:+9.2f} {noise[i]:8.2f}"
        )
    mean_abs = float(np.mean(np.abs(shift)))
    expected = float(np.mean(noise)) * np.sqrt(2 / np.pi)  # E|N(0, s)| = 0.8 s
    print(f"mean |shift| {mean_abs:.2f} posterior SDs; without bias about {expected:.2f} (lost information, MC error)")
    return mean_abs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dyads", type=int, default=20)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--missing-days", type=float, default=0.2)
    ap.add_argument("--policies", nargs="+", default=["person_rate"], choices=MISSING_EVENT_POLICIES[1:])
    ap.add_argument("--reps", type=int, default=1, help="replicate studies (seeds seed, seed+1, ...)")
    ap.add_argument("--seed", type=int, default=1, help="first study seed; also the sampler seed")
    args = ap.parse_args()

    v = ab.get_variant("asem")
    names = [p.name for p in v.params if p.group != "events"]
    full: list[dict] = []
    missed: dict[str, list[dict]] = {p: [] for p in args.policies}
    truth: dict = {}
    models: dict[str, CompiledModel] = {}
    for rep in range(args.reps):
        seed = args.seed + rep
        none_ds, missed_ds = study(args, 0.0, seed), study(args, args.missing_days, seed)
        truth = truth or ab.true_params(none_ds)
        share = float(np.isnan(missed_ds["state_anxiety"].values).mean())
        print(f"study seed {seed}: {share:.0%} of person-days without a state-anxiety rating", flush=True)
        for policy in args.policies:
            if policy not in models:
                models[policy] = CompiledModel(
                    missed_ds, v, mode="conditional", missing_events=policy, trajectories=False
                )
            if len(full) == rep:  # the study without missed days has no missing events: any policy fits it
                full.append(moments(run_fit(models[policy], none_ds, args, "no missed days"), names))
            fit = run_fit(models[policy], missed_ds, args, f"{args.missing_days:.0%} missed days, {policy}")
            missed[policy].append(moments(fit, names))

    print(
        f"\nasem, {args.dyads} dyads x {args.days} days, exogenous events, conditional mode, "
        f"{args.chains} chains x {args.draws} draws after {args.tune}, {args.reps} replicate(s); "
        "shift/sd = (mean missed - mean none) / sd none, averaged over replicates (means and sds shown: "
        "the first replicate's)"
    )
    for policy in args.policies:
        print_table(names, truth if args.reps == 1 else {}, full, missed[policy], policy)


if __name__ == "__main__":
    main()
