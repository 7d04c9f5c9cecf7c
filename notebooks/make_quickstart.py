"""Write notebooks/quickstart.ipynb (outputs stripped) from the cells below.

    .venv/bin/python notebooks/make_quickstart.py

Edit the cells here, not in the .ipynb, so the notebook stays reviewable as plain Python.
"""

from __future__ import annotations

from pathlib import Path

import nbgen

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Quickstart: simulate a diary study, fit ASEM, check the fit

This notebook walks through one complete analysis on simulated data, where the truth is known:

1. simulate a dyadic daily-diary study from the `asem` variant,
2. fit the `asem` model to it with PyMC and nutpie,
3. read the estimates next to the truth, with the sampler diagnostics,
4. look at a few people's latent working models against their true trajectories,
5. check the fit with posterior predictive checks.

The model is documented equation by equation in `docs/model.md`.

**Sizes.** By default the notebook simulates 40 couples over 42 days and samples 4 chains x 1000
draws (several minutes: a minute to compile, the rest sampling, faster with more CPU cores).
With the environment variable `ASEM_NOTEBOOK_SMALL=1` (what the test suite sets) it shrinks to 12 couples x 21 days and
2 chains x 1000 draws, enough to run every cell, not to learn much.""",
    ),
    (
        "code",
        """import os

import asem_bayes as ab
from asem_bayes.diagnostics import diagnose
from asem_bayes.plots import plot_ppc, plot_recovery, plot_timeline, plot_trajectories, trait_change_check

SMALL = os.environ.get("ASEM_NOTEBOOK_SMALL") == "1"
SEED = 2026  # one seed for the simulation and the sampler: rerunning gives the same numbers

N_DYADS, N_DAYS = (12, 21) if SMALL else (40, 42)
DRAWS, TUNE, CHAINS = (1000, 1000, 2) if SMALL else (1000, 1000, 4)
# The overall level of the working models trades off against the rating intercepts (a posterior
# ridge, see the self-check at the end); a smaller step size (target_accept 0.95 instead of 0.8)
# keeps NUTS from diverging along it.
TARGET_ACCEPT = 0.95
print(f"{N_DYADS} couples x {N_DAYS} days; {CHAINS} chains x {DRAWS} draws ({TUNE} tuning)")""",
    ),
    (
        "md",
        """## 1. Simulate a study

`simulate` draws each person's initial working models (self and others), then runs the days:
the event model picks the day's situations from both partners' working models (threats,
the partner's safe and soft buffering, confidence-building, positive dependence), the person
rates their state anxiety and avoidance, and the day's events update the working models.
Trait questionnaires are filled in on the first and last day. Without `params`, the reference
parameter values of the schema are used (see the parameter table in `docs/model.md`).""",
    ),
    (
        "code",
        """study = ab.simulate("asem", n_dyads=N_DYADS, n_days=N_DAYS, seed=SEED)
study""",
    ),
    (
        "md",
        """The same data as a long person-day table (one row per person and day), the layout most
diary data arrive in; `ab.from_long` turns such a table back into a study.""",
    ),
    (
        "code",
        """ab.to_long(study).head(8)""",
    ),
    (
        "md",
        """One couple's days: the true working models of both partners (simulated data know them)
above the events of each day.""",
    ),
    (
        "code",
        """plot_timeline(study, dyad=0);""",
    ),
    (
        "md",
        """## 2. Fit the `asem` model

`ASEMModel` ties a study to a variant and to the sampler's settings (`SamplerConfig`). Its
`fit` builds the PyMC model, compiles it with numba through nutpie (the slow part, about a
minute, done once per model object) and samples. `posterior_predictive=True` adds replicated
ratings for the checks of section 5. The model conditions on the observed events (the default
*conditional* mode, see `docs/model.md` section 9). The fit is an ArviZ `DataTree`; the model
object keeps it as `model.idata`, and `model.save("fit.nc")` / `ab.ASEMModel.load("fit.nc")`
store and rebuild both.""",
    ),
    (
        "code",
        """config = ab.SamplerConfig(draws=DRAWS, tune=TUNE, chains=CHAINS, target_accept=TARGET_ACCEPT)
model = ab.ASEMModel(study, "asem", config=config)
result = model.fit(seed=SEED, posterior_predictive=True)
print(f"compile {result.attrs['compile_seconds']:.0f} s, sampling {result.attrs['sample_seconds']:.0f} s")
result""",
    ),
    (
        "md",
        """## 3. Estimates, truth and diagnostics

`report` prints every population parameter's posterior mean, standard deviation and 90%
interval, next to the truth when we pass it, then the sampler diagnostics in words.

In the conditional mode the event-model parameters (`a0` ... `y1`) never meet the likelihood:
their posterior is their prior, so their coverage says nothing about the fit.""",
    ),
    (
        "code",
        """truth = ab.true_params(study)
print(ab.report(result, truth=truth))""",
    ),
    (
        "md",
        """The same diagnostics as numbers. Divergences mean the sampler could not explore the
posterior faithfully; R-hat compares chains (near 1 when they agree); ESS is the effective
number of independent draws. The notebook asserts them in its last cell, after the plots, so a
broken fit still fails it but you see what went wrong first.""",
    ),
    (
        "code",
        """diag = diagnose(result)
diag.as_dict()""",
    ),
    (
        "md",
        """Truth against estimate for the parameters the data inform: one dataset, so one panel with
a row per parameter, its 90% interval (blue when it covers the truth, red when it misses) and
the truth as a cross, each row drawn relative to its own interval; the numbers on the right are
in the parameter's units. Over many simulated datasets `plot_recovery` draws a panel per
parameter and shows bias and shrinkage; see the calibration notebook.""",
    ),
    (
        "code",
        """plot_recovery(study, result, var_names=["rho", "psi_pos_s", "psi_pos_o", "theta_pos_s_mu", "theta_pos_o_mu",
                                        "k_A", "k_V", "tau_A", "b_safe", "l_A", "l_V", "sigma_A"]);""",
    ),
    (
        "md",
        """## 4. Working-model trajectories

The posterior holds every person's model of self and model of others on every day
(`self_model`, `others_model`). The band is the 90% posterior interval, the dashed line the
truth. Working models change slowly (a few hundredths per event at the reference learning
rates), so the band is mostly about *where* a person is, less about how they moved.""",
    ),
    (
        "code",
        """plot_trajectories(result, truth=study, persons=[(0, 0), (0, 1), (1, 0)]);""",
    ),
    (
        "md",
        """The same couple as above, now with the posterior bands over its events.""",
    ),
    (
        "code",
        """plot_timeline(result, dyad=0, truth=study);""",
    ),
    (
        "md",
        """How often does the 90% band of the trajectories contain the truth, over all
person-days? Close to 90% is what a calibrated posterior gives; far less means overconfident
trajectories.""",
    ),
    (
        "code",
        """post = result.posterior
inside = []
for var in ("self_model", "others_model"):
    lo = post[var].quantile(0.05, dim=("chain", "draw"))
    hi = post[var].quantile(0.95, dim=("chain", "draw"))
    inside.append(float(((study[var] >= lo) & (study[var] <= hi)).mean()))
print(f"share of true person-days inside the 90% band: self {inside[0]:.0%}, others {inside[1]:.0%}")""",
    ),
    (
        "md",
        """## 5. Posterior predictive checks

Replicate the ratings from the posterior and compare them with the data: the distributions of
the daily ratings and trait scores (top), and the mean change of the traits from the first to
the last wave (bottom). The change check is the one that exposes a model whose working models
cannot move (`stable`) fitted to data where they did: its replicated change sits around zero.""",
    ),
    (
        "code",
        """plot_ppc(result);""",
    ),
    (
        "code",
        """trait_change_check(result)""",
    ),
    (
        "md",
        """## Self-check

The notebook checks its own fit, so a broken model or sampler fails it instead of ending in
plausible-looking plots. At the small test size the data hardly pin down where a person's working
models lie on the -1..1 scale as opposed to how the rating intercepts `c_A`, `m_A` absorb that
level, so the chains move slowly along that ridge and R-hat is noisy: we accept the classic 1.05
there. At full size we require the modern 1.01 (Vehtari et al., 2021), the threshold `diagnose`
warns at.""",
    ),
    (
        "code",
        """assert diag.divergences == 0, diag.warnings
rhat_max = 1.05 if SMALL else 1.01
assert diag.max_rhat < rhat_max, f"max R-hat {diag.max_rhat:.3f} >= {rhat_max}: {diag.warnings}"
print(f"self-check passed: no divergences, max R-hat {diag.max_rhat:.3f} < {rhat_max}")""",
    ),
    (
        "md",
        """## Where next

- `docs/model.md`: the equations, the variants, the parameter table, the missing-data policy.
- Fit your own data: `ab.load_diary` reads a diary file with a column mapping; then
  `ab.ASEMModel(study, variant).fit()` as above.
- Compare variants (`stable`, `uniform`, `asem`, `buffer_enhances`, `asem_fatigue`) with
  PSIS-LOO, and check calibration with SBC, in the other notebooks.""",
    ),
]


def build():
    return nbgen.build(CELLS, "quickstart")


def main() -> None:
    nbgen.write(build(), Path(__file__).with_name("quickstart.ipynb"))


if __name__ == "__main__":
    main()
