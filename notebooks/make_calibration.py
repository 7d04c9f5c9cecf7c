"""Write notebooks/calibration.ipynb (outputs stripped) from the cells below.

    .venv/bin/python notebooks/make_calibration.py

Edit the cells here, not in the .ipynb, so the notebook stays reviewable as plain Python.
"""

from __future__ import annotations

from pathlib import Path

import nbgen

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Calibration: simulation-based calibration (SBC) of `asem`

One fit to one simulated dataset says little about whether a model's posteriors can be trusted.
SBC (Talts et al. 2018; Modrák et al. 2023) asks it of many: draw true parameters from the prior,
simulate a study from them, fit the model, and note where the truth falls among the posterior
draws (its *rank*). If the model and the sampler are right, the truth is just another draw from
the posterior, so over many simulations its rank is uniform. Departures have shapes that say what
is wrong.

This notebook

1. first shows what calibration and miscalibration look like on a toy problem whose exact
   posterior is known (a *mock* backend, milliseconds per fit), including a deliberately broken
   one,
2. then runs SBC of the `asem` variant in its **conditional** mode and reads the three SBC plots:
   ECDF difference with simultaneous bands, rank histograms, z-score versus contraction.

**Which SBC checks which mode** (docs/model.md section 9). The conditional mode conditions on the
observed events and ignores how they arose. In the simulator, events depend on the working
models, hence on the parameters, so SBC of the conditional mode with the full simulator would
flag a miscalibration that is real but intended. `AsemGenerator(mode="conditional")` therefore
simulates events at fixed exogenous daily rates (`asem_bayes.sbc.DEFAULT_EXOGENOUS_EVENTS`),
independent of the inferred parameters: this SBC checks the conditional model (rating and trait
likelihood, working-model dynamics, the sampler). The **joint** mode, which also scores the
events, is checked by `AsemGenerator(mode="joint")` with the full simulator (not run here: it is
slower; `benchmarks/sbc_asem.py` and `asem sbc` run it). In the conditional mode the event-model
parameters (`a0` ... `y1`) never meet the likelihood, so they are not ranked.

**Sizes.** By default: 100 simulations of 20 couples x 21 days, 2 chains x 1000 draws (1000
warm-up) thinned to 100 ranked draws, on 2 worker processes (each compiles the model once);
several hours on a 2-core laptop. The fits are kept in `sbc_runs/` next to this notebook
(ignored by git), so an interrupted run resumes where it stopped. With `ASEM_NOTEBOOK_SMALL=1`
(what the test suite sets) it shrinks to 8 simulations of 6 couples x 10 days, 2 chains x 150
draws, run inline (one compile), stored in a temporary directory: enough to run every cell and
to check that the pipeline produces ranks, far too few to judge calibration.""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import binom

from asem_bayes.sbc import AsemGenerator, MockBackend, NormalGenerator, NutpieBackend, run_sbc

SMALL = os.environ.get("ASEM_NOTEBOOK_SMALL") == "1"
SEED = 2026  # run seed: simulation i draws its data, fit and rank seeds from (SEED, i) only

VARIANT, MODE = "asem", "conditional"
if SMALL:
    N_SIMS, N_DYADS, N_DAYS = 8, 6, 10
    DRAWS, TUNE, CHAINS, THIN = 150, 150, 2, 3  # 2 x 50 = 100 ranked draws
    WORKERS = 0  # inline: one compile, in this kernel
else:
    N_SIMS, N_DYADS, N_DAYS = 100, 20, 21
    DRAWS, TUNE, CHAINS, THIN = 1000, 1000, 2, 20  # 2 x 50 = 100 ranked draws
    WORKERS = 2  # worker processes, each compiles the model once
# The hierarchical spreads form funnels in short studies (the reduced-size run in
# reports/sbc_asem.md, at 0.8 and 300 warm-up draws, diverged in most fits): a smaller step size.
TARGET_ACCEPT = 0.95
N_MOCK = 100  # toy-problem simulations (milliseconds each, so the same at both sizes)
PROB = 0.95  # level of the simultaneous ECDF bands

# Small runs go to a temporary directory, so the test suite always fits afresh; full runs to
# sbc_runs/ (ignored by git) next to this notebook, so an interrupted run resumes.
TMP = Path(tempfile.mkdtemp(prefix="asem_calibration_"))
RUN_DIR = TMP / "asem" if SMALL else Path("sbc_runs") / f"calibration_{VARIANT}_{MODE}_{N_DYADS}x{N_DAYS}"
print(f"{N_SIMS} simulations of {N_DYADS} couples x {N_DAYS} days; {CHAINS} chains x {DRAWS} draws "
      f"({TUNE} warm-up), thinned by {THIN}; store: {RUN_DIR}")""",
    ),
    (
        "md",
        """## 1. What calibration and miscalibration look like

The toy problem: two parameters `mu` and `nu`, each with a Normal(0, 1) prior and observed 10 times
with unit Normal noise. Its posterior is Normal in closed form, and `MockBackend` draws from it
exactly, through the same generate / fit / rank / uniformity code as the real model. Three
backends:

- **exact**: the true posterior, so the ranks are uniform;
- **too narrow** (`sd_scale=0.5`): an overconfident posterior, the typical symptom of a sampler
  that does not explore, or a model that understates its noise;
- **likelihood left out** (`use_likelihood=False`): the "posterior" is the prior. The
  parameters' ranks are *still* uniform (a prior draw ranked among prior draws), so an SBC that
  ranks only parameters passes it; the log-likelihood of the data as a test quantity
  (`loglik`) catches it. That is why the `asem` SBC below also ranks the log-likelihood and the
  working-model change.""",
    ),
    (
        "code",
        """mock = {
    name: run_sbc(NormalGenerator(), backend, N_MOCK, TMP / f"mock_{name}", seed=7, workers=0, progress=False)
    for name, backend in {
        "exact": MockBackend(),
        "too narrow": MockBackend(sd_scale=0.5),
        "likelihood left out": MockBackend(use_likelihood=False),
    }.items()
}
for name, res in mock.items():
    print(f"--- {name}\\n{res.summary(PROB)}\\n")""",
    ),
    (
        "md",
        """**The ECDF-difference plot** is the main SBC plot. For each quantity it draws the empirical
CDF of the normalised ranks (PIT values) minus the uniform CDF, which is zero on average under
calibration, inside the grey simultaneous 95% band: if the ranks are uniform, the whole curve
stays inside the band in 95% of runs, so one excursion anywhere is evidence (the band accounts
for looking at every point). Curves outside it are drawn red. Shapes:

- a **dip then a rise (S shape)**: too many truths in both tails, posteriors too narrow;
- a **hump** above zero in the middle: posteriors too wide;
- a curve mostly **above or below zero**: the posterior is biased (truth mostly above or
  below the posterior).

The exact backend stays inside the bands:""",
    ),
    (
        "code",
        """mock["exact"].plot_ecdf(prob=PROB);""",
    ),
    (
        "md",
        """The too-narrow posterior: both parameters leave their bands in the S shape (truths pile up in
the tails of the overconfident posteriors).""",
    ),
    (
        "code",
        """mock["too narrow"].plot_ecdf(prob=PROB);""",
    ),
    (
        "md",
        """**Rank histograms** show the same ranks binned: flat under calibration (the grey band is the
99% range of one bin's count, pointwise, so an odd bar outside it now and then is expected;
shapes matter). The too-narrow posterior gives the classic U.""",
    ),
    (
        "code",
        """mock["too narrow"].plot_ranks();""",
    ),
    (
        "md",
        """The prior passed off as the posterior: `mu` and `nu` look perfectly calibrated, only `loglik`
leaves its band. Its truth (the data's log-likelihood at the true parameters) is nearly always
above what parameters drawn from the prior give, so its ECDF stays near zero and then jumps.""",
    ),
    (
        "code",
        """mock["likelihood left out"].plot_ecdf(prob=PROB);""",
    ),
    (
        "md",
        """The notebook checks that the machinery tells these apart (the seeds are fixed, so the outcome is
deterministic; with 100 simulations a x0.5 posterior leaves the band by far, see
`tests/test_sbc.py`).""",
    ),
    (
        "code",
        """uni = {name: res.uniformity(PROB) for name, res in mock.items()}
assert uni["exact"]["uniform"].all(), uni["exact"]
assert not uni["too narrow"].loc[["mu", "nu"], "uniform"].any(), uni["too narrow"]
assert uni["likelihood left out"].loc[["mu", "nu"], "uniform"].all(), uni["likelihood left out"]
assert not uni["likelihood left out"].loc["loglik", "uniform"], uni["likelihood left out"]
print("mock checks passed: exact calibrated; too-narrow and likelihood-left-out flagged")""",
    ),
    (
        "md",
        """## 2. SBC of `asem` in the conditional mode

The generator draws every parameter from the prior (`params="prior"`), simulates a study with
exogenous events and returns the truth and the data separately. The backend compiles the model
once per process and refits each dataset (`CompiledModel.with_data`), keeping every `THIN`-th
draw: SBC ranks assume roughly independent draws, and autocorrelated ones push ranks to the
extremes.

Ranked quantities: every population parameter the conditional likelihood informs, the
log-likelihood of the data (`loglik`), and the mean change of each person's self and others
model over the study (`self_change`, `others_change`), which tests the dynamics directly.""",
    ),
    (
        "code",
        """generator = AsemGenerator(VARIANT, N_DYADS, N_DAYS, mode=MODE)
backend = NutpieBackend(VARIANT, mode=MODE, draws=DRAWS, tune=TUNE, chains=CHAINS, thin=THIN,
                        target_accept=TARGET_ACCEPT)
print("exogenous event rates:", generator.exogenous_events)

res = run_sbc(generator, backend, N_SIMS, RUN_DIR, seed=SEED, workers=WORKERS, progress=False)
print(f"{res.fitted_now} fits now, {res.run_seconds:.0f} s (compiles included)\\n")
print(res.summary(PROB))""",
    ),
    (
        "md",
        """Sampler diagnostics per simulation. SBC tests the model *and* the sampler settings: divergences,
R-hat above 1.01 or a bulk ESS below the number of ranked draws mean that a failed band may be the
sampler's fault (too little warm-up, too few draws) before it is the model's. At the small test
size the chains are far too short for that (expect R-hat above 1.01 and some divergences in most
fits): the small run tests the pipeline, not the model.""",
    ),
    (
        "code",
        """res.diagnostics.to_dataframe().describe().loc[["mean", "50%", "max", "min"]].round(2)""",
    ),
    (
        "md",
        """Uniformity per quantity: the gamma statistic of Säilynoja et al. (2022) against its critical
value at the simultaneous 95% level (`uniform` when the ECDF stays inside the band), and ArviZ's
pointwise order test `p_pot_c` for reference.""",
    ),
    (
        "code",
        """uni_asem = res.uniformity(PROB)
uni_asem.round(3)""",
    ),
    (
        "md",
        """### ECDF differences

One panel per quantity, read as in section 1. With dozens of quantities a few excursions are
expected by chance even under calibration (each band is simultaneous over its own curve, not over
all curves): about 5% of them at the 95% level. Look for shapes shared by related parameters, and
for `loglik` and the change quantities, which test the data model and the dynamics as a whole. At
the small test size there are too few simulations for the bands to say much.""",
    ),
    (
        "code",
        """res.plot_ecdf(prob=PROB);""",
    ),
    (
        "md",
        """### Rank histograms""",
    ),
    (
        "code",
        """res.plot_ranks();""",
    ),
    (
        "md",
        """### z-score versus contraction

For each parameter and simulation: the posterior z-score `(posterior mean - truth) / posterior sd`
against the posterior contraction `1 - posterior variance / prior variance`. Contraction near 1:
the data pin the parameter down; near 0: the posterior is still the prior (the design cannot
identify it, which is not miscalibration, but worth knowing before interpreting it). z-scores
should mostly lie in the grey +-2 band; large |z| at high contraction means confidently wrong
posteriors. In the conditional `asem` model the observation noise and rating slopes contract
most; population spreads of the learning rates contract little in short studies.""",
    ),
    (
        "code",
        """res.plot_zscores();""",
    ),
    (
        "code",
        """contraction = res.contraction().mean("sim").to_series().sort_values()
print("mean posterior contraction, least and most informed:")
print(contraction.head(5).round(2).to_string())
print(contraction.tail(5).round(2).to_string())""",
    ),
    (
        "md",
        """## Self-check

At both sizes: no simulation failed, and every simulation produced a finite rank in `0..n_ranks`
for every quantity, including the derived ones (a broken log-likelihood or trajectory
computation gives NaN ranks). At full size also: the number of quantities outside their 95%
bands is no more than chance explains (the 99% quantile of Binomial(number of quantities, 0.05),
treating the quantities as independent, which they roughly are not, so this is a coarse check
that a systematic failure breaks), and `loglik` and the working-model changes, which test the
model as a whole, stay inside theirs. The small size has too few simulations for a uniformity
check to fail for a real reason, so it asserts none.""",
    ),
    (
        "code",
        """ranks = res.ranks
assert not res.failed, res.failed
assert res.n_sims == N_SIMS, f"{res.n_sims} of {N_SIMS} simulations ranked"
expected = {"loglik", "self_change", "others_change", "k_A", "sigma_A"}
assert expected <= set(ranks["quantity"].values), sorted(ranks["quantity"].values)
assert "a0" not in ranks["quantity"].values  # event-model parameters are not informed in the conditional mode
assert np.isfinite(ranks).all(), ranks.where(~np.isfinite(ranks), drop=True)
assert int(ranks.min()) >= 0 and int(ranks.max()) <= res.n_ranks
if not SMALL:
    n_q = len(uni_asem)
    n_out = int((~uni_asem["uniform"]).sum())
    allowed = int(binom.ppf(0.99, n_q, 1 - PROB))
    assert n_out <= allowed, f"{n_out} of {n_q} quantities outside their bands (chance allows {allowed})"
    whole = ["loglik", "self_change", "others_change"]
    assert uni_asem.loc[whole, "uniform"].all(), uni_asem.loc[whole]
print(f"self-check passed: {res.n_sims} simulations, {ranks.sizes['quantity']} quantities ranked, none failed")""",
    ),
    (
        "md",
        """## Where next

- `asem sbc --help`: the same run from the command line (resumable, `--workers`, or a Dask
  cluster with `--scheduler`); `benchmarks/sbc_asem.py` writes a report like `reports/sbc_asem.md`.
- `load_sbc(run_dir, quantities=[...])` re-ranks stored fits with new test quantities without
  refitting.
- The comparing-variants notebook asks the other question: not whether a model's posterior is
  honest, but which variant the data prefer.""",
    ),
]


def build():
    return nbgen.build(CELLS, "calibration")


def main() -> None:
    nbgen.write(build(), Path(__file__).with_name("calibration.ipynb"))


if __name__ == "__main__":
    main()
