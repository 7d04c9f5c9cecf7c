"""Write notebooks/comparing_variants.ipynb (outputs stripped) from the cells below.

    .venv/bin/python notebooks/make_comparing_variants.py

Edit the cells here, not in the .ipynb, so the notebook stays reviewable as plain Python.
"""

from __future__ import annotations

from pathlib import Path

import nbgen

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Comparing variants: PSIS-LOO, stacking and model recovery

The ASEM variants make different claims about how working models change: `stable` says they do
not change at all, `uniform` that every event moves them by the same amount regardless of the
person, `asem` that security-enhancing events move them in the way the theory says (see the
variant table in `docs/model.md`). This notebook

1. simulates one study from `asem`, fits `stable`, `uniform` and `asem` to it,
2. compares them by their expected log predictive density (elpd), estimated by Pareto-smoothed
   importance-sampling leave-one-out cross-validation (PSIS-LOO), leaving out **one person at a
   time** (all of a person's days and trait waves), and weighs them by stacking,
3. runs a small **model recovery**: simulate from each variant, fit every candidate, and count
   how often PSIS-LOO picks the variant that made the data (a confusion matrix). This is what
   says whether a comparison on real data can be believed at a given study size.

Why the person as the leave-out unit: a person's days are a time series driven by the same
latent working models, so leaving out single days lets the neighbouring days predict them and
flatters every model; leaving out a whole person asks how well the model predicts a new person.

**Sizes.** By default: one study of 40 couples x 42 days, 3 variants, 4 chains x 1000 draws
each; model recovery of the 3 variants with 5 datasets each at 30 couples x 28 days, 2 chains x
500 draws, on 2 worker processes (45 fits; an hour or more on a laptop, kept in `sbc_runs/` next
to this notebook, ignored by git, so an interrupted run resumes). With `ASEM_NOTEBOOK_SMALL=1`
(what the test suite sets) it compares only `stable` and `asem` on 8 couples x 14 days (each
variant's model compiles once, which dominates), and the model recovery is 1 dataset per variant
at the same size, fitted with the models already compiled: enough to run every cell, far too
little to conclude anything.""",
    ),
    (
        "code",
        """import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import asem_bayes as ab
from asem_bayes.compare import compare, describe
from asem_bayes.diagnostics import diagnose
from asem_bayes.plots import plot_comparison, trait_change_check
from asem_bayes.recovery import run_model_recovery

SMALL = os.environ.get("ASEM_NOTEBOOK_SMALL") == "1"
SEED = 2026  # simulation, sampler and recovery seeds all derive from it

TRUE_VARIANT = "asem"
LOO_UNIT = "person"
if SMALL:
    VARIANTS = ["stable", "asem"]
    N_DYADS, N_DAYS = 8, 14
    DRAWS, TUNE, CHAINS = 300, 300, 2
    REC_REPS, REC_DYADS, REC_DAYS = 1, N_DYADS, N_DAYS  # same size: reuses the compiled models
    REC_DRAWS, REC_TUNE, REC_WORKERS = 150, 150, 0
else:
    VARIANTS = ["stable", "uniform", "asem"]
    N_DYADS, N_DAYS = 40, 42
    DRAWS, TUNE, CHAINS = 1000, 1000, 4
    REC_REPS, REC_DYADS, REC_DAYS = 5, 30, 28
    REC_DRAWS, REC_TUNE, REC_WORKERS = 500, 500, 2
# Small hierarchical spreads form funnels in short studies; a smaller step size avoids divergences.
TARGET_ACCEPT = 0.95
REC_DIR = (Path(tempfile.mkdtemp(prefix="asem_recovery_")) if SMALL
           else Path("sbc_runs") / f"model_recovery_{REC_DYADS}x{REC_DAYS}")
print(f"comparison: {VARIANTS} on {N_DYADS} couples x {N_DAYS} days, {CHAINS} chains x {DRAWS} draws")
print(f"recovery: {REC_REPS} dataset(s) per variant, {REC_DYADS} couples x {REC_DAYS} days; store {REC_DIR}")""",
    ),
    (
        "md",
        """## 1. One study, three fits

The study comes from `asem` at the reference parameter values. Every variant is fitted in the
same (conditional) mode with `loo_unit="person"`, so each fit stores one log-likelihood value per
person and draw, summed over that person's ratings: the fits score the same observations in the
same units, which `compare` checks before it compares anything.""",
    ),
    (
        "code",
        """study = ab.simulate(TRUE_VARIANT, n_dyads=N_DYADS, n_days=N_DAYS, seed=SEED)
config = ab.SamplerConfig(draws=DRAWS, tune=TUNE, chains=CHAINS, target_accept=TARGET_ACCEPT)
models = {v: ab.ASEMModel(study, v, config=config) for v in VARIANTS}  # each compiles once, on its first fit
fits = {v: m.fit(seed=SEED, loo_unit=LOO_UNIT) for v, m in models.items()}
for v, f in fits.items():
    d = diagnose(f)
    print(f"{v:8s} compile {f.attrs['compile_seconds']:4.0f} s, sampling {f.attrs['sample_seconds']:4.0f} s; "
          f"divergences {d.divergences}, max R-hat {d.max_rhat:.3f}")""",
    ),
    (
        "md",
        """## 2. PSIS-LOO and stacking

`compare` runs ArviZ's PSIS-LOO on each fit and `arviz_stats.compare` on the results. Columns:
`elpd` (higher is better), `elpd_diff` from the best fit and its standard error `dse` (a
difference smaller than about two `dse`, or than 4 in absolute terms, is not a clear preference),
the **stacking weight** (the weights of the mixture of the fits' predictive distributions that
predicts the left-out persons best; unlike a posterior model probability it does not go to 1 for
one model just because there is a lot of data, and it gives weight to a fit only for what it
adds), and `k_bad`, the number of persons whose Pareto k is too high for PSIS to be trusted.""",
    ),
    (
        "code",
        """with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the Pareto-k problems are printed in words below
    table = compare(fits)
table.round(2)""",
    ),
    (
        "md",
        """The same in words, including each fit's Pareto-k problems. **Pareto k** measures how far the
posterior moves when a person is left out: below about 0.7 the importance-sampling estimate of
that person's elpd is reliable; above it the person is so influential (little data, or unusual)
that PSIS underestimates how much leaving them out costs, which makes that fit look better than it
is. Leaving out whole persons removes many observations at once, so high k is common in small
studies: the remedies are a smaller unit (`loo_unit="person-week"`) and exact refits that leave
units out (K-fold, below).""",
    ),
    (
        "code",
        """print(describe(table))""",
    ),
    (
        "md",
        """Expect many persons with high Pareto k when whole persons are left out: a person's own
parameters (initial working models, learning rates, rating intercepts) are informed almost only
by that person's data, so the posterior without them is far from the full posterior. The
reduced-size model-recovery run (`benchmarks/model_recovery.py`) found most persons above the
threshold even at 20 couples x 21 days. Read the elpd differences as a direction supported by the
posterior predictive check below, not as exact numbers. For a decision, confirm with exact
K-fold cross-validation at the person-week, which refits each variant K times through its
compiled model with one fold of person-weeks' ratings set missing and needs no Pareto k:

```python
for m in models.values():
    m.fit(seed=1, loo_unit="person-week")
print(ab.compare({v: m.kfold(k=4, seed=1) for v, m in models.items()}))
```

(not run here: it costs K more fits per variant; `asem recover --loo-unit person-week --kfold 4`
does the same for model recovery).""",
    ),
    (
        "md",
        """The comparison plot: each fit's elpd difference from the best with its standard error; the
label carries its stacking weight (the best predictive mixture, not a probability that the
variant is true), whether it is within noise of the best, and how many leave-out units have a
Pareto k too high for PSIS-LOO.""",
    ),
    (
        "code",
        """plot_comparison(table);""",
    ),
    (
        "md",
        """Why `stable` loses here, seen in the data: the mean change of the trait questionnaires from the
first to the last wave. `stable` cannot move the working models, so its replicated change sits
around zero; `asem` reproduces the observed change. (This needs replicated data: refit with
`posterior_predictive=True`; the fit above skipped it to save time, so here is the check for the
two end points of the comparison with a short refit, reusing the compiled models.)""",
    ),
    (
        "code",
        """for v in ("stable", TRUE_VARIANT):
    short = models[v].with_config(draws=200)  # the same compiled model, fewer draws
    ppc_fit = short.fit(seed=SEED + 1, loo_unit=None, posterior_predictive=True)
    print(f"--- {v}")
    print(trait_change_check(ppc_fit))""",
    ),
    (
        "md",
        """## 3. Model recovery

One comparison on one dataset can be luck. Model recovery repeats it: simulate `REC_REPS`
datasets from each variant (reference parameter values), fit every candidate to every dataset,
and pick the candidate with the highest elpd. The confusion matrix (left) gives, for each true
variant (row), the share of datasets where each candidate (column) was picked; the right panel
the mean stacking weights. A strong diagonal means the comparison can tell the variants apart at
this study size. Nested variants are asymmetric: data from `stable` can be fitted as well by
`asem` with small learning rates, so `asem` is often picked (or shares the weight) there, while
data from `asem` should reject `stable`.

Each fit is checkpointed in the run's directory; running the cell again resumes. At the small
size the recovery run reuses the models compiled above (`worker_cached` is the per-process model
cache that the recovery workers consult; its key is the candidate, mode and study size), so it
compiles nothing new.""",
    ),
    (
        "code",
        """if REC_WORKERS == 0 and (REC_DYADS, REC_DAYS) == (N_DYADS, N_DAYS):
    from asem_bayes.sbc.runner import worker_cached

    for v in VARIANTS:  # hand the compiled models to the inline recovery run
        worker_cached(("recovery", v, "conditional", N_DYADS, N_DAYS), lambda v=v: models[v].compiled)

recovery = run_model_recovery(
    REC_DIR, variants=VARIANTS, reps=REC_REPS, n_dyads=REC_DYADS, n_days=REC_DAYS, loo_unit=LOO_UNIT,
    draws=REC_DRAWS, tune=REC_TUNE, chains=2, target_accept=TARGET_ACCEPT, seed=SEED, workers=REC_WORKERS,
    progress=False,
)
print(f"{recovery.fitted_now} fits now, {recovery.run_seconds:.0f} s\\n")
print(recovery.summary())""",
    ),
    (
        "code",
        """recovery.plot_confusion();""",
    ),
    (
        "code",
        """recovery.confusion(normalize=False)""",
    ),
    (
        "md",
        """Parameter recovery of each true variant's own fits across the datasets: the share of 90%
intervals that cover the truth, the mean posterior contraction and the mean |z|.""",
    ),
    (
        "code",
        """recovery.coverage().round(2)""",
    ),
    (
        "md",
        """## Self-check

At both sizes: the comparison table has exactly the fitted variants, the stacking weights sum
to 1, every fit left out the expected number of persons (2 per couple), the elpd values are finite,
and the model recovery fitted every candidate to every dataset without a failure, so the
confusion matrix counts every dataset. At full size also: `asem` has a higher elpd than `stable`
on the `asem` study (the trait change that `stable` cannot produce is large at 42 days; only the
direction is asserted, since high Pareto k makes the size of the difference unreliable), every
fit's max R-hat is below 1.01, and model recovery picks
`asem` for the majority of `asem` datasets. The small study is too short for a preference to be
reliable, so no ranking is asserted there.""",
    ),
    (
        "code",
        """assert set(table.index) == set(VARIANTS), table.index
np.testing.assert_allclose(table["weight"].sum(), 1.0, atol=1e-6)
assert (table["n_units"] == 2 * N_DYADS).all(), table["n_units"]
assert np.isfinite(table["elpd"]).all(), table["elpd"]
assert not recovery.failed, recovery.failed
counts = recovery.confusion(normalize=False)
assert int(counts.to_numpy().sum()) == len(VARIANTS) * REC_REPS, counts
if not SMALL:
    diff = float(table.loc["stable", "elpd_diff"])
    dse = float(table.loc["stable", "dse"])
    assert table.loc[TRUE_VARIANT, "elpd"] > table.loc["stable", "elpd"], (diff, dse)
    rhat = {v: diagnose(f).max_rhat for v, f in fits.items()}
    assert max(rhat.values()) < 1.01, rhat
    assert recovery.confusion().loc["asem", "asem"] > 0.5, recovery.confusion()
print("self-check passed")""",
    ),
    (
        "md",
        """## Where next

- `asem compare --help` and `asem recover --help`: the same from the command line;
  `benchmarks/model_recovery.py` writes a report to `reports/`.
- The calibration notebook checks that a variant's posterior is honest (SBC) before its
  comparisons are read.
- The real-data notebook compares the variants (and a longitudinal APIM) on diary data.""",
    ),
]


def build():
    return nbgen.build(CELLS, "comparing-variants")


def main() -> None:
    nbgen.write(build(), Path(__file__).with_name("comparing_variants.ipynb"))


if __name__ == "__main__":
    main()
