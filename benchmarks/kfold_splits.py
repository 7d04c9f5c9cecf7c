"""How much of a K-fold elpd difference is the fold split? (the figures behind ``kfold_split``)

Part 1 (``--fit``, about 6 minutes on 2 cores): one ``stable`` study of 100 dyads x 56 days, fitted
by ``stable`` and ``asem``; each fit cross-validated at the person-week on two 4-fold splits, A
(random, equal fold sizes: what ``arviz_stats.loo_kfold`` draws) and B (two weeks of every person in
each fold: what :func:`asem_bayes.kfold.kfold_split` gives at 8 weeks). Prints, per fit and split,
the elpd, the refits' Monte Carlo error (chain 1 against chain 2, per person-week) and the bias of
averaging half the draws; then the same model's elpd on A against B, and the ``asem`` minus
``stable`` difference with its standard error on a shared split and across splits.

Part 2 (``--stores``): the median standard error of the elpd differences in model-recovery stores
(the non-best candidates, leaving out ``stable`` on data from the changing variants, whose
differences are in the thousands), and the range of each candidate's difference and its SE.

Usage: ``python benchmarks/kfold_splits.py --fit`` and/or ``--stores sbc_runs/mr_full_kf ... [--reps 5]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.special import logsumexp

N_DYADS, N_DAYS, K, DRAWS = 100, 56, 4, 300


def _elpd_i(m: np.ndarray) -> np.ndarray:
    return logsumexp(m, axis=0) - np.log(m.shape[0])


def fit_part() -> None:
    import asem_bayes as ab
    from asem_bayes.kfold import KFoldWrapper, unit_values
    from asem_bayes.model import CompiledModel, log_likelihood

    data = ab.simulate("stable", N_DYADS, N_DAYS, seed=11)
    n_units = N_DYADS * 2 * (N_DAYS // 7)
    rng = np.random.default_rng(5)
    splits = {
        "A": rng.permutation(np.arange(n_units) % K),
        # built by hand, not by kfold_split, to keep the split (and figures) of the first measurement
        "B": np.concatenate([rng.permutation(np.arange(N_DAYS // 7) % K) for _ in range(2 * N_DYADS)]),
    }
    held: dict[tuple[str, str], np.ndarray] = {}
    for cand in ("stable", "asem"):
        cm = CompiledModel(data, cand, mode="conditional", trajectories=False)
        full = cm.fit(data, draws=DRAWS, tune=DRAWS, chains=2, seed=1, loo_unit="person-week", target_accept=0.8)
        w = KFoldWrapper(full, data, cm, {})
        for name, folds in splits.items():
            m = np.full((2 * DRAWS, n_units), np.nan)
            for k in range(K):
                idx = np.flatnonzero(folds == k)
                train, _ = w.sel_observations(idx)
                f = cm.fit(train, draws=DRAWS, tune=DRAWS, chains=2, seed=100 + k, loo_unit=None, target_accept=0.8)
                ll = log_likelihood(f.posterior.to_dataset(), w.inp, cm.variant, cm.mode, "person-week")["log_lik"]
                m[:, idx] = unit_values(ll).reshape(2 * DRAWS, -1)[:, idx]
            held[(cand, name)] = m
            e, e1, e2 = _elpd_i(m), _elpd_i(m[:DRAWS]), _elpd_i(m[DRAWS:])
            print(
                f"{cand:7s} split {name}: elpd {e.sum():9.1f}; chain 1 vs 2 sd per person-week "
                f"{np.std(e1 - e2):.3f}; half-draw bias in total {((e1 + e2) / 2 - e).sum():5.1f}"
            )
        d = _elpd_i(held[(cand, "A")]) - _elpd_i(held[(cand, "B")])
        print(f"{cand:7s} split A minus split B: {d.sum():.1f} in total, sd {np.std(d):.3f} per person-week")
    for fa, fb in ("AA", "BB", "AB"):
        d = _elpd_i(held[("asem", fa)]) - _elpd_i(held[("stable", fb)])
        print(f"asem({fa}) - stable({fb}): {d.sum():7.1f}, SE {np.sqrt(d.size) * d.std(ddof=1):5.1f}")


def store_part(stores: list[str], reps: int | None) -> None:
    from asem_bayes.recovery import load_recovery

    for path in stores:
        loo = load_recovery(path, reps=reps).loo
        rest = loo[(loo["dse"] > 0) & ~((loo["candidate"] == "stable") & (loo["true"] != "stable"))]
        print(f"{path}: median SE of an elpd difference {rest['dse'].median():.1f} ({len(rest)} comparisons)")
        # range of each losing candidate's difference to the best, and of its SE, per true variant
        print(rest.groupby(["true", "candidate"])[["elpd_diff", "dse"]].agg(["min", "max"]).round(1).to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="part 1: fit and cross-validate one study on two splits")
    ap.add_argument("--stores", nargs="*", default=[], help="part 2: model-recovery stores to summarise")
    ap.add_argument("--reps", type=int, default=None, help="part 2: only the first REPS datasets per variant")
    args = ap.parse_args()
    if args.fit:
        fit_part()
    if args.stores:
        store_part(args.stores, args.reps)


if __name__ == "__main__":
    main()
