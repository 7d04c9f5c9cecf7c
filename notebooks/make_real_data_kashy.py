"""Write notebooks/real_data_kashy.ipynb (outputs stripped) from the cells below.

    .venv/bin/python notebooks/make_real_data_kashy.py

Edit the cells here, not in the .ipynb, so the notebook stays reviewable as plain Python.
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

cells = []


def md(s):
    cells.append(nbf.v4.new_markdown_cell(s.strip("\n")))


def code(s):
    cells.append(nbf.v4.new_code_cell(s.strip("\n")))


md(r"""
# A real analysis: conflict and felt insecurity in 103 dating couples

Campbell, Simpson, Boldry & Kashy (2005) asked both partners of 103 dating couples to report,
every day for 14 days, how much **conflict** they had with their partner (1-7) and how
**satisfied and close** they felt (1-7, the mean of two items); each partner's **attachment
avoidance** was measured once. The data are read from `../shared/data/kashy/` next to the
repository (never copied into it); where they are absent this notebook says so and stops.

What the notebook does:

1. **Load** the pairwise file with a column mapping (`examples/mappings/kashy.toml`) and print the
   load report: daily conflict becomes the **threat** construct (an intensity `(x - 1) / 6`, the
   mean of both partners' reports), satisfaction becomes daily **felt insecurity** about the
   partner (`state_avoidance = 8 - satisfaction`), avoidance becomes the **baseline trait wave**
   of the model of others.
2. Ask which parameters of each ASEM variant and of each observation-model extension **these
   data can inform** at all.
3. **Fit** the field's two dyadic baselines, the contemporaneous **APIM** and the **lagged APIM**
   (stability and influence), and the ASEM models: `stable`, `asem`, and `asem` with each
   extension of its observation model: the partners' same-day residual correlation
   (`residuals=("partner",)`, docs/model.md section 17), day-to-day carry-over of the residuals
   (`residuals=("ar1",)`) and correlated person-level effects (`person_correlation`, section 18).
4. **Compare** all of them fairly (`compare.fair_comparison`, docs/model.md section 11): the same
   ratings, the same leave-out unit, the same events and the same conditioning on the partner's
   same-day rating for every model, under both conditionings, by exact K-fold cross-validation
   where PSIS-LOO flags units.
5. **Check** every model's replications of the partners' same-day correlation and of the lag-1
   autocorrelation within a person (posterior predictive checks, figures and p-values).
6. Read the **parameters** of the best-supported ASEM model that the data inform, and the
   extensions' parameters.
7. Print the **conclusions**, as sentences computed from the tables of this run.

Set `ASEM_NOTEBOOK_SMALL=1` for a quick smoke run (12 couples, 100 draws, 2-fold K-fold; the
assertions on diagnostics then only warn, and its numbers are not a result about these data).
""")

code(r"""
import os
import tempfile
import time
import warnings
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

import asem_bayes as ab
from asem_bayes import apim
from asem_bayes.compare import about_as_good, compare, fair_comparison, format_table
from asem_bayes.coverage import coverage_report, uninformed_parameters
from asem_bayes.data import load_diary
from asem_bayes.diagnostics import summary_table
from asem_bayes.kfold import data_fingerprint
from asem_bayes.model import resolve_variant
from asem_bayes.sbc import Store

warnings.filterwarnings("ignore", category=FutureWarning)

T_START = time.perf_counter()
SMALL = os.environ.get("ASEM_NOTEBOOK_SMALL", "") not in ("", "0")
SEED = 20051
OUTCOME = "state_avoidance"
MISSING_EVENTS = "person_rate"  # the 4 missing couple-days of conflict: the couple's own rate, for every model
# Leave-out unit of the comparison: half of a person's fortnight (docs/model.md section 11: the
# person or the person-week, not the single day, since the working models carry information
# from day to day).
UNIT = "person-week"
CONDITIONINGS = ("none", "partner")
# The ASEM fits are ranked among themselves under this conditioning to pick the one whose
# parameters section 6 reads: under "partner" every extension can show what it adds (under
# "none" the partner option's ratings are scored marginally, so it cannot).
SELECT_BY = "partner"
# Correlated person-level effects (section 18) of two parameters these data inform (section 2):
# the initial model of others and its rate of erosion by conflict.
CORRELATED = ("o0", "theta_neg_o")
if SMALL:
    N_DYADS, DRAWS, TUNE, CHAINS = 12, 100, 100, 2
    KFOLD, KFOLD_DRAWS, KFOLD_TUNE = 2, DRAWS, TUNE
else:
    # 2 chains: the reference machine has 2 cores. 1500 draws because asem mixes slowly along
    # the ridge described in section 4 (its worst person-week log-likelihood reached ESS ~70 at
    # 1000 draws, ~110 at 1500). The K-fold refits take 1000 draws each (their elpd averages the
    # held-out likelihood over draws, which needs fewer than the diagnostics).
    N_DYADS, DRAWS, TUNE, CHAINS = None, 1500, 1000, 2
    KFOLD, KFOLD_DRAWS, KFOLD_TUNE = 4, 1000, 1000


def repo_root(start: Path) -> Path:
    for p in (start, *start.parents):
        if (p / "pyproject.toml").exists() and (p / "asem_bayes").is_dir():
            return p
    raise FileNotFoundError("run this notebook from inside the asem-bayes repository")


ROOT = repo_root(Path.cwd().resolve())
# The data live next to the repository: ../shared/data seen from its root
# (../../shared/data seen from this notebooks/ folder).
DATA = (ROOT / ".." / "shared" / "data" / "kashy" / "kashy_person_period_pairwise.csv").resolve()
MAPPING = ROOT / "examples" / "mappings" / "kashy.toml"
DATA_OK = DATA.is_file()
if not DATA_OK:
    print(f"SKIPPED: the Kashy diary data are not available at {DATA}; nothing to analyse here.")
print(f"small run: {SMALL}; data: {DATA if DATA_OK else 'absent'}")
""")

md(r"""
## 1. Load the diary with a mapping

The mapping declares every column's scale, so a value outside it, a typo or a duplicated
person-day would stop here with the file, line, column and value named. The report says what
was read, combined, filled or set aside; nothing is dropped silently. Note the file's header
quirk: it names the partner's avoidance `Cavoid_A` a second time (read as `Cavoid_A.1`); the
mapping uses it only to check each person's value against their partner's row.
""")

code(r"""
if DATA_OK:
    print(MAPPING.read_text())
    study, report = load_diary(DATA, mapping=MAPPING, return_report=True)
    print(report)
    if N_DYADS is not None:
        study = study.isel(dyad=slice(0, N_DYADS))
    # Each partner's baseline avoidance as a person-level APIM predictor (actor and partner).
    study["avoidance"] = study["trait_avoidance"].isel(wave=0, drop=True).reset_coords(drop=True)
    study["avoidance"].attrs["role"] = "covariate"
    print(study)
""")

md(r"""
## 2. What can these data inform?

Only threats are observed (no buffering, no confidence-building or positive-dependence
situations), only one daily rating (felt insecurity, an indicator of the model of **others**)
and one trait wave. `uninformed_parameters` finds, numerically, the parameters whose value does
not move the likelihood at all; the fit cannot learn them and their posterior is their prior.

* `buffer_enhances` differs from `asem` only through buffering, which these data do not hold:
  the two are the same model here.
* `asem_fatigue` differs only through partner fatigue in the event model, which needs buffering
  events: not identifiable here.
* `uniform` differs from `asem` here only in the assimilation bias on negative evidence: it is
  `asem` with `psi_neg_o = 0`, so the `asem` posterior of `psi_neg_o` already answers what
  fitting `uniform` would.
* Of the extensions' parameters only those of the rated scale can be learnt: `corr_V` and
  `phi_V` (felt insecurity), not `corr_A`, `phi_A` (no anxiety ratings). For the same reason the
  model of **self** is uninformed, so the correlation of `s0` with `o0` (the example of
  docs/model.md section 18) would only return its prior here; the notebook correlates the
  initial model of others `o0` with its rate of erosion by conflict `theta_neg_o` instead (do
  those who start more insecure about the partner also lose security faster?).

So the questions these data can put to the theory are `stable` against `asem` (does conflict
erode the model of others over the two weeks, or act on the day only?) and which of the
observation-model extensions the daily ratings need.
""")

code(r"""
# label: (variant, residual options, correlated person-level effects)
MODELS = {
    "stable": ("stable", (), ()),
    "asem": ("asem", (), ()),
    "asem+partner": ("asem", ("partner",), ()),
    "asem+ar1": ("asem", ("ar1",), ()),
    "asem+corr": ("asem", (), CORRELATED),
}
EXTENSIONS = ["asem+partner", "asem+ar1", "asem+corr"]
APIMS = ["apim", "apim_lagged"]
uninformed = {}
if DATA_OK:
    for name in ("stable", "asem"):
        print(coverage_report(study, name, missing_events=MISSING_EVENTS))
        print()
    for name, distinct in (("buffer_enhances", "kappa"), ("asem_fatigue", "phi")):
        un = uninformed_parameters(study, name)
        print(f"{name}: its distinctive parameter {distinct!r} is uninformed ({un.get(distinct)}); not fitted")
    for label, (variant, residuals, correlated) in MODELS.items():
        v = resolve_variant(variant, residuals, correlated)
        uninformed[label] = uninformed_parameters(study, v, missing_events=MISSING_EVENTS)
        extra = [p for p in v.param_names if p.startswith(("phi_", "corr_"))]
        if extra:
            state = {p: "uninformed" if p in uninformed[label] else "informed" for p in extra}
            print(f"{label}: extension parameters {state}")
        if correlated:
            state = {p: "uninformed" if p in uninformed[label] else "informed" for p in (*correlated, "s0")}
            print(f"{label}: person-level effects {state}; their correlation is informed only if both are")
""")

md(r"""
## 3. The fits

**The APIM baselines.** Daily felt insecurity on the couple's conflict (the same `threat` values
the ASEM dynamics read, docs/model.md section 11, "Events") and on one's own (actor) and the
partner's baseline avoidance, with dyad and person random intercepts and a correlation `r`
between the two partners' same-day residuals. This is what most dyadic diary papers run. The
lagged APIM adds **stability** (one's own rating the day before) and **influence** (the
partner's rating the day before).
""")

code(r"""
fits = {}
if DATA_OK:
    for kind, label in (("contemporaneous", "apim"), ("lagged", "apim_lagged")):
        t0 = time.perf_counter()
        fits[label] = apim.fit_apim(
            study,
            OUTCOME,
            actor=("threat", "avoidance"),
            kind=kind,
            missing_events=MISSING_EVENTS,
            draws=DRAWS,
            tune=TUNE,
            chains=CHAINS,
            seed=SEED,
            loo_unit=None,  # the comparison below computes every model's log-likelihood alike
            posterior_predictive=True,
            target_accept=0.9,
        )
        print(f"{label} fitted in {time.perf_counter() - t0:.0f} s")
        print(apim.apim_report(fits[label]))
        print()
""")

md(r"""
**The ASEM models.** Each is an `ASEMModel` (compiled once, fitted in the conditional mode: the
observed threats drive the dynamics; missing conflict reports, 4 couple-days, are filled with the
couple's own rate). The extensions change only the observation model (sections 17, 18): the
working models' dynamics are those of `asem`.
""")

code(r"""
models = {}
if DATA_OK:
    config = ab.SamplerConfig(draws=DRAWS, tune=TUNE, chains=CHAINS, target_accept=0.95)
    for label, (variant, residuals, correlated) in MODELS.items():
        models[label] = ab.ASEMModel(
            study,
            variant,
            missing_events=MISSING_EVENTS,
            config=config,
            residuals=residuals,
            person_correlation=correlated,
        )
        fits[label] = models[label].fit(seed=SEED, loo_unit=None, posterior_predictive=True)
        a = fits[label].attrs
        print(f"{label}: compiled in {a['compile_seconds']:.0f} s, sampled in {a['sample_seconds']:.0f} s")
""")

md(r"""
## 4. A fair comparison

`fair_comparison` recomputes every model's log-likelihood so that all of them score the same
numbers (docs/model.md section 11):

* the same **outcome**, daily felt insecurity (an ASEM fit's trait wave is not scored);
* the same **ratings**: the lagged APIM cannot score a person's first day nor a day after a
  missing rating (it conditions on them as lags), so those ratings are dropped from *every*
  model's score (they stay in every fit as data);
* the same **leave-out unit**, the person-week;
* the same **conditioning** on the partner's same-day rating, shown both ways: `"none"`, no model
  uses it (each rating is scored marginally), and `"partner"`, every model scores each rating
  given it. The APIM's residual correlation `r` and ASEM's `"partner"` option can use it; the
  other ASEM fits gain nothing from it (their partners are independent given the parameters);
* the same **events** (checked).

It ranks them by PSIS-LOO and, where Pareto k flags units of any model, by exact K-fold
cross-validation (every model refitted on the same split of person-weeks); the table to read is
then the K-fold one.
""")

code(r"""
def show(res):
    # The tables of one fair comparison, in words too.
    print(res.report())


comparisons = {}
if DATA_OK:
    compiled = {label: m.compiled for label, m in models.items()}  # the K-fold refits reuse them
    # Each refit is written to a store: the second conditioning reads the first one's refits (only
    # the scoring differs), and an interrupted full-size run resumes where it stopped.
    # (A small run refits into a fresh temporary folder: it is a smoke test of the sampling too.)
    refit_dir = Path(tempfile.mkdtemp(prefix="kashy-refits-")) if SMALL else ROOT / "sbc_runs" / "kashy_notebook"
    refit_config = {"data": data_fingerprint(study), "unit": UNIT, "kfold": KFOLD, "seed": SEED,
                    "draws": KFOLD_DRAWS, "tune": KFOLD_TUNE, "fit_draws": DRAWS, "chains": CHAINS,
                    "models": sorted(models), "correlated": list(CORRELATED)}  # fmt: skip
    refit_store = Store(refit_dir, refit_config)
    for cond in CONDITIONINGS:
        t0 = time.perf_counter()
        comparisons[cond] = fair_comparison(
            fits,
            study,
            OUTCOME,
            unit=UNIT,
            partner_conditioning=cond,
            kfold=KFOLD,
            seed=SEED,
            compiled=compiled,
            missing_events=MISSING_EVENTS,
            draws=KFOLD_DRAWS,
            tune=KFOLD_TUNE,
            target_accept=0.95,
            refit_store=refit_store,
        )
        print(f"=== partner_conditioning={cond!r}, leave-out unit {UNIT} ({time.perf_counter() - t0:.0f} s) ===")
        show(comparisons[cond])
        print()
""")

code(r"""
if DATA_OK:
    fig, axes = plt.subplots(1, len(CONDITIONINGS), figsize=(12, 3.6), sharey=True)
    order = list(comparisons[CONDITIONINGS[0]].table.index)
    for ax, cond in zip(axes, CONDITIONINGS, strict=True):
        t = comparisons[cond].table.loc[order]
        ypos = np.arange(len(order))
        ax.errorbar(t["elpd_diff"], ypos, xerr=2 * t["dse"], fmt="o", capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(ypos, order)
        ax.invert_yaxis()
        how = "K-fold" if comparisons[cond].kfold is not None else "PSIS-LOO"
        ax.set_title(f"conditioning {cond!r} ({how})")
        ax.set_xlabel("elpd minus the best model's (+- 2 se)")
    plt.tight_layout()
    plt.show()
""")

md(r"""
### Diagnostics

The comparison rests on the **predictive** quantities, so those are what the notebook checks:
divergent transitions, and R-hat and ESS of every person-week's log-likelihood (as compared,
under both conditionings) and of the informed effect parameters, for every fit; and divergent
transitions in the K-fold refits. A fit out of bounds is printed as a warning here and named in
the conclusions (section 7), with what it was. On these data at full size the ASEM fits have a
few divergent transitions (about 0.1-0.3% of draws at target acceptance 0.95) and their refits
some more, so their elpd and intervals are to be read with that caveat;
`benchmarks/apim_fair_comparison.py` shows that the ranking holds when the chains are doubled
(docs/validation.md). `diagnose`'s stricter thresholds
(R-hat 1.01, ESS 400) are not all met by the ASEM fits with 2 chains: with one daily indicator
and one trait wave a person's daily intercept `c_V`, their initial model of others `o0` (and in
`asem` their rate of erosion) and the loading `k_V` trade off against each other, a ridge the
sampler moves along slowly.
""")

code(r"""
RHAT_OK, ESS_OK = 1.05, 100  # looser than diagnose()'s 1.01 / 400: 2 chains on 2 cores
EFFECTS = ("tau_V", "sigma_V", "sigma_TV", "theta_neg_o_mu", "psi_neg_o", "theta_neg_mu", "phi_V", "corr_V",
           "corr_o0_theta_neg_o")  # fmt: skip
APIM_EFFECTS = ("alpha", "beta", "sigma", "r")


def predictive_health(name):
    fit = fits[name]
    if name in APIMS:
        names = list(APIM_EFFECTS)
    else:
        names = [n for n in EFFECTS if n in fit.posterior and n not in uninformed[name]]
    ds = xr.Dataset({n: fit.posterior[n] for n in names})
    for cond in CONDITIONINGS:
        ds[f"log_lik[{cond}]"] = comparisons[cond].trees[name]["log_likelihood"]["log_lik"]
    rhat = az.rhat(ds)
    ess = az.ess(ds, method="bulk")
    worst_rhat = max(rhat.data_vars, key=lambda v: float(rhat[v].max()))
    worst_ess = min(ess.data_vars, key=lambda v: float(ess[v].min()))
    # Divergent transitions in the K-fold refits (the conditionings share them: one count each).
    refit_divergences = {
        cond: sum(int(f["divergences"]) for f in res.kfold_results[name].refit_diagnostics.values())
        for cond, res in comparisons.items()
        if res.kfold_results is not None
    }
    return {
        "divergences": int(fit.sample_stats["diverging"].sum()),
        "max_rhat": round(float(rhat[worst_rhat].max()), 3),
        "max_rhat_of": worst_rhat,
        "min_ess": round(float(ess[worst_ess].min())),
        "min_ess_of": worst_ess,
        "refit_divergences": refit_divergences,
    }


health = {}
if DATA_OK:
    for name in fits:
        health[name] = predictive_health(name)
        print(f"{name:>13}: {health[name]}")
    flagged = [
        name
        for name, h in health.items()
        if h["divergences"] > 0
        or any(n > 0 for n in h["refit_divergences"].values())
        or h["max_rhat"] > RHAT_OK
        or h["min_ess"] < ESS_OK
    ]
    problems = [f"WARNING {name}: {health[name]}" for name in flagged]
    print("predictive diagnostics out of bounds:\n" + "\n".join(problems) if problems else "all within bounds")
""")

md(r"""
## 5. Posterior predictive checks

Replicated daily felt insecurity from each model, on the ratings the comparison scored, against
the data on four statistics: the overall mean, the spread between people, the **same-day
correlation between partners** and the **day-to-day persistence** (lag-1 autocorrelation within
person, around the person's mean). The last two are what the extensions target: `"partner"`
gives the partners' same-day residuals a correlation (as the APIM's `r` does), `"ar1"` lets a
person's residuals carry over to the next day.

The posterior predictive p-value is the share of replications at or above the data's value;
near 0 or 1 (below 0.05 or above 0.95 here) the model misses that feature. Read the lagged
APIM's with care: its replications are one step ahead, each day's drawn given the *observed*
ratings of the day before, so its replicated persistence borrows from the data; the ASEM
replications (with `"ar1"` too) are new series drawn from the model alone.
""")

code(r"""
def statistics(y: np.ndarray) -> dict[str, float]:
    # y: (dyad, person, day) with NaN where missing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        person_means = np.nanmean(y, axis=-1)
        a, b = y[:, 0].ravel(), y[:, 1].ravel()
        ok = ~np.isnan(a) & ~np.isnan(b)
        dev = y - person_means[..., None]
        x0, x1 = dev[..., :-1].ravel(), dev[..., 1:].ravel()
        ok1 = ~np.isnan(x0) & ~np.isnan(x1)
        return {
            "mean": float(np.nanmean(y)),
            "sd of person means": float(np.nanstd(person_means)),
            "partner same-day corr": float(np.corrcoef(a[ok], b[ok])[0, 1]),
            "lag-1 autocorr": float(np.corrcoef(x0[ok1], x1[ok1])[0, 1]),
        }


PPP_EXTREME = 0.05  # a p-value below this or above 1 - this flags a misfit
if DATA_OK:
    cells = comparisons[CONDITIONINGS[0]].cells  # the ratings every model scored
    y_obs = study[OUTCOME].transpose("dyad", "person", "day").values
    observed_stats = statistics(np.where(cells, y_obs, np.nan))
    rng = np.random.default_rng(SEED)
    replicated = {}
    for name, fit in fits.items():
        rep = fit.posterior_predictive[OUTCOME].transpose("chain", "draw", "dyad", "person", "day").values
        rep = rep.reshape(-1, *rep.shape[2:])
        pick = rng.choice(rep.shape[0], size=min(200, rep.shape[0]), replace=False)
        vals = [statistics(np.where(cells, rep[i], np.nan)) for i in pick]
        replicated[name] = {s: np.asarray([v[s] for v in vals]) for s in observed_stats}
    ppp = pd.DataFrame(
        {s: [float((replicated[n][s] >= obs).mean()) for n in fits] for s, obs in observed_stats.items()},
        index=list(fits),
    )
    ppp.index.name = "model"

    names = list(fits)
    fig, axes = plt.subplots(1, len(observed_stats), figsize=(17, 3.8), sharey=True)
    for ax, (stat, obs) in zip(axes, observed_stats.items(), strict=True):
        for k, name in enumerate(names):
            lo, med, hi = np.quantile(replicated[name][stat], [0.05, 0.5, 0.95])
            p = ppp.loc[name, stat]
            color = "C3" if min(p, 1 - p) < PPP_EXTREME else "C0"
            ax.plot([lo, hi], [k, k], color=color, lw=2)
            ax.plot(med, k, "o", color=color)
            ax.annotate(f"p={p:.2f}", (hi, k), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
        ax.axvline(obs, color="k", lw=1.5)
        ax.margins(x=0.2)  # room for the p-values
        ax.set_title(stat)
        ax.set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.suptitle("replicated statistic (median, 90% interval; red: p-value beyond 0.05/0.95); black line: data")
    plt.tight_layout()
    plt.show()
    print("observed:", {s: round(v, 3) for s, v in observed_stats.items()})
    print("posterior predictive p-values (share of replications >= data):")
    print(ppp.to_string(float_format=lambda x: f"{x:.2f}"))
""")

md(r"""
## 6. What the best-supported ASEM model says

The ASEM fits are ranked among themselves (the same cross-validation as above, under the
conditioning `SELECT_BY`), and the first one's informed population parameters are shown with
90% equal-tailed intervals. `theta_neg_o_mu` is the log rate at which a conflict erodes the
model of others, `psi_neg_o` the assimilation bias on negative evidence (below 0: an insecure
model of others takes conflict harder), `tau_V` the same-day rise of felt insecurity on a
conflict day, `k_V` how much a secure model of others lowers it. Then the extensions'
parameters, from each extension's own fit, next to their prior (`2 Beta(2, 2) - 1`, the
marginal of `LKJ(2)` for one correlation).
""")

code(r"""
def ranked(res, names):
    # The comparison of `names` only, by the same cross-validation as res.table.
    pool = res.kfold_results if res.kfold_results is not None else res.trees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto k: already reported in section 4
        return compare({n: pool[n] for n in names})


def pairwise(res, a, b):
    # elpd(a) - elpd(b) and the standard error of that difference.
    t = ranked(res, [a, b])
    return float(t.loc[a, "elpd"] - t.loc[b, "elpd"]), float(t["dse"].max())


def interval(fit, name, prob=0.9):
    x = fit.posterior[name].values.ravel()
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(x.mean()), float(lo), float(hi)


if DATA_OK:
    asem_table = ranked(comparisons[SELECT_BY], list(MODELS))
    best_asem = str(asem_table.index[0])
    print(f"ASEM fits ranked under conditioning {SELECT_BY!r}:")
    print(format_table(asem_table).to_string())
    print(f"\nbest-supported ASEM model: {best_asem!r}; its informed population parameters:")
    tab = summary_table(fits[best_asem], ci_prob=0.9)
    tab = tab.loc[[n for n in tab.index if n.split("[")[0] not in uninformed[best_asem]]]
    print(tab.iloc[:, :6].to_string(float_format=lambda x: f"{x:.3f}"))

    prior = 2 * sps.beta(2, 2).ppf([0.05, 0.95]) - 1
    rows = []
    for label in EXTENSIONS:
        fit = fits[label]
        for p in fit.posterior.data_vars:
            if p.startswith(("phi_", "corr_")) and p not in uninformed[label] and fit.posterior[p].ndim == 2:
                mean, lo, hi = interval(fit, p)
                rows.append({"fit": label, "parameter": p, "mean": mean, "5%": lo, "95%": hi})
    ext = pd.DataFrame(rows).set_index(["fit", "parameter"])
    print(f"\nextension parameters (90% intervals; prior 90% interval [{prior[0]:.2f}, {prior[1]:.2f}]):")
    print(ext.to_string(float_format=lambda x: f"{x:.3f}"))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.5 * len(ext)))
    ypos = np.arange(len(ext))
    ax.axvspan(prior[0], prior[1], color="0.9", label="prior 90%")
    ax.errorbar(ext["mean"], ypos, xerr=[ext["mean"] - ext["5%"], ext["95%"] - ext["mean"]], fmt="o", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(ypos, [f"{p} ({f})" for f, p in ext.index])
    ax.set_xlim(-1, 1)
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("extension parameters: posterior mean and 90% interval")
    plt.tight_layout()
    plt.show()
""")

md(r"""
## 7. Conclusions of this run

The cell below writes the conclusions from the tables above: which extension the
cross-validation supports (each against plain `asem`, elpd difference +- its standard error,
under each conditioning), whether the APIM still predicts better than the best ASEM fit and by
how much, and which posterior predictive check explains a difference (a statistic whose p-value
is near 0 or 1 for the one model and not for the other). A difference is called clear only when
it is at least 4 elpd and more than two standard errors (`compare.about_as_good`, the rule of
docs/model.md section 11). They are the conclusions of the run in front of you: rerun the
notebook and they follow the new numbers. A small run (`ASEM_NOTEBOOK_SMALL=1`) says so first;
its numbers come from 12 couples and 100 draws and are a smoke test, not a finding.

For the full-size run (all 103 couples, 2 chains x 1500 draws, 4-fold K-fold with 1000 draws per
refit, both conditionings) run, from the repository root, without `ASEM_NOTEBOOK_SMALL`:

    MPLBACKEND=Agg .venv/bin/jupyter execute --kernel_name=python3 --timeout=-1 \
        --output=../sbc_runs/real_data_kashy_full notebooks/real_data_kashy.ipynb

(`jupyter execute` comes with the package's test dependencies; the executed copy is
`sbc_runs/real_data_kashy_full.ipynb`, outside the repository's tracked files.) It fits
7 models and refits each 4 times (28 refits, shared by both conditionings). Every refit is
checkpointed in `sbc_runs/kashy_notebook/`, so a rerun after an interruption resumes where it
stopped (delete the folder to refit from scratch).
The committed notebook stays without outputs.
""")

code(r"""
def versus(d, se):
    if about_as_good(d, se):
        return f"cannot be told apart ({d:+.1f} +- {se:.1f} elpd)"
    return f"{'better' if d > 0 else 'worse'} by {abs(d):.1f} +- {se:.1f} elpd"


def misfits(name):
    return [s for s in observed_stats if min(ppp.loc[name, s], 1 - ppp.loc[name, s]) < PPP_EXTREME]


def check_words(name, stat):
    lo, hi = np.quantile(replicated[name][stat], [0.05, 0.95])
    return f"{name} replicates {lo:.2f} to {hi:.2f} (p = {ppp.loc[name, stat]:.2f})"


def interval_words(fit, p):
    mean, lo, hi = interval(fit, p)
    if p.endswith("_mu"):  # a population mean on its link scale (theta_neg_o_mu: a log rate): no sign to read
        return f"{p} = {mean:.2f} (90% {lo:.2f} to {hi:.2f})"
    where = "below 0" if hi < 0 else "above 0" if lo > 0 else "its interval covers 0"
    return f"{p} = {mean:.2f} (90% {lo:.2f} to {hi:.2f}; {where})"


if DATA_OK:
    lines = []
    if SMALL:
        lines.append(
            f"SMALL RUN ({study.sizes['dyad']} couples, {CHAINS} x {DRAWS} draws, {KFOLD}-fold): a smoke test of "
            "the pipeline; the sentences below are not findings about these data."
        )
    n_cells = int(cells.sum())
    for cond in CONDITIONINGS:
        res = comparisons[cond]
        how = f"exact {KFOLD}-fold cross-validation" if res.kfold is not None else "PSIS-LOO"
        lines.append(
            f"\nConditioning {cond!r} ({how}, {res.units.size} person-weeks, {n_cells} ratings scored by every "
            f"model): ranking {' > '.join(res.table.index)}."
        )
        for label in EXTENSIONS:
            d, se = pairwise(res, label, "asem")
            verdict = (
                "supported" if d > 0 and not about_as_good(d, se)
                else "not supported" if d < 0 and not about_as_good(d, se) else "no clear gain"
            )  # fmt: skip
            note = (
                " (under 'none' its ratings are scored marginally: the option's correlation cannot help here)"
                if label == "asem+partner" and cond == "none" else ""
            )  # fmt: skip
            lines.append(f"  {label} against asem: {versus(d, se)}: {verdict}{note}.")
        d, se = pairwise(res, "asem", "stable")
        lines.append(f"  Letting conflict accumulate in the model of others (asem against stable): {versus(d, se)}.")
        best_apim = next(n for n in res.table.index if n in APIMS)
        best = next(n for n in res.table.index if n in MODELS)
        d, se = pairwise(res, best_apim, best)
        if about_as_good(d, se):
            lines.append(f"  The best APIM ({best_apim}) and the best ASEM fit ({best}) {versus(d, se)} "
                         "(APIM minus ASEM).")  # fmt: skip
        elif d > 0:
            lines.append(f"  The APIM still wins: {best_apim} predicts better than the best ASEM fit {best} by "
                         f"{d:.1f} +- {se:.1f} elpd ({d / n_cells:.3f} per rating).")  # fmt: skip
            explain = [s for s in misfits(best) if s not in misfits(best_apim)]
            if explain:
                for s in explain:
                    caveat = (
                        " (but the lagged APIM's replications condition on the observed day before, section 5)"
                        if best_apim == "apim_lagged" and s == "lag-1 autocorr" else ""
                    )  # fmt: skip
                    lines.append(
                        f"  A check that explains it: {s}: data {observed_stats[s]:.2f}; {check_words(best, s)}, "
                        f"{check_words(best_apim, s)}{caveat}."
                    )
            else:
                lines.append(
                    f"  No posterior predictive check of the four statistics separates them ({best} misfits: "
                    f"{', '.join(misfits(best)) or 'none'}; {best_apim}: {', '.join(misfits(best_apim)) or 'none'}): "
                    "the difference lies in "
                    "what these summaries do not show."
                )
        else:
            lines.append(f"  The best ASEM fit ({best}) predicts better than the best APIM ({best_apim}) by "
                         f"{-d:.1f} +- {se:.1f} elpd.")  # fmt: skip
    lines.append("\nPosterior predictive checks (statistics with a p-value beyond 0.05 / 0.95):")
    for name in fits:
        bad = misfits(name)
        lines.append(
            f"  {name}: " + ("; ".join(f"{s} (data {observed_stats[s]:.2f}, {check_words(name, s)})" for s in bad)
                             if bad else "none")
        )  # fmt: skip
    lines.append(f"\nBest-supported ASEM model (ranked under {SELECT_BY!r}): {best_asem}.")
    for p in ("psi_neg_o", "theta_neg_o_mu", "tau_V", "k_V"):
        if p in fits[best_asem].posterior and p not in uninformed[best_asem]:
            lines.append(f"  {interval_words(fits[best_asem], p)}")
    for (label, p), _ in ext.iterrows():
        lines.append(f"  {label}: {interval_words(fits[label], p)}")
    lines.append(
        "\nDiagnostics: "
        + (
            "out of bounds (section 4): "
            + "; ".join(
                f"{n} ({health[n]['divergences']} divergent transitions, refits "
                f"{max(health[n]['refit_divergences'].values(), default=0)}; worst R-hat {health[n]['max_rhat']} "
                f"of {health[n]['max_rhat_of']}; smallest ESS {health[n]['min_ess']})"
                for n in flagged
            )
            + ": read their elpd and intervals with that caveat"
            if flagged
            else "the predictive quantities of every fit are within bounds (section 4)"
        )
    )
    print("\n".join(lines))
    print(f"\nnotebook run time: {time.perf_counter() - T_START:.0f} s")
""")


def build() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb["cells"] = cells
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    # tests/test_notebooks.py skips notebooks that need ../shared/data where it is absent.
    nb.metadata["asem"] = {"requires": ["shared_data"]}
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"kashy-{k:02d}"  # stable ids: regenerating gives no diff
    return nb


def main() -> None:
    out = Path(__file__).with_name("real_data_kashy.ipynb")
    nbf.write(build(), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
