"""Write notebooks/what_if.ipynb (outputs stripped) from the cells below.

    .venv/bin/python notebooks/make_what_if.py

Edit the cells here, not in the .ipynb, so the notebook stays reviewable as plain Python.
"""

from __future__ import annotations

from pathlib import Path

import nbgen

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# What if a partner buffered more? Projections, forecasts and attribution from a fit

A question from the practical side of the theory: **if one partner answered threats with safe and
soft buffering twice as often from now on, how much more secure would the other become, and how
fast?** This notebook answers it end to end on simulated data, where the truth is known:

1. simulate a study and fit `asem` to it,
2. read the assimilation biases in questionnaire units,
3. project the fitted world and an altered one (partner 1 buffers twice as often) eight weeks past
   the study, and compare,
4. forecast the persons without any alteration,
5. attribute each person's fitted change to the channels that produced it,
6. check the answer against the truth.

What each step assumes is in `docs/model.md`, section "What-if projections".

**Sizes.** By default 40 couples over 42 days, 4 chains x 1000 draws (several minutes). With
`ASEM_NOTEBOOK_SMALL=1` (the test suite) 12 couples x 21 days and 2 chains x 500 draws: every
cell runs, the numbers mean little.""",
    ),
    (
        "code",
        """import os

import numpy as np
import xarray as xr

import asem_bayes as ab
from asem_bayes import whatif
from asem_bayes.diagnostics import diagnose

SMALL = os.environ.get("ASEM_NOTEBOOK_SMALL") == "1"
SEED = 7
N_DYADS, N_DAYS = (12, 21) if SMALL else (40, 42)
CHAINS, DRAWS = (2, 500) if SMALL else (4, 1000)
# Learning a little faster than the reference (about e^-4 per unit of evidence instead of e^-5 and
# e^-3.6) so that a six-week study shows change worth projecting.
TRUTH = {"theta_pos_s_mu": -4.0, "theta_pos_o_mu": -4.0, "theta_neg_s_mu": -3.0, "theta_neg_o_mu": -3.0}
study = ab.simulate("asem", n_dyads=N_DYADS, n_days=N_DAYS, params=TRUTH, seed=SEED)
print(f"{N_DYADS} couples x {N_DAYS} days")""",
    ),
    (
        "md",
        """## 1. Fit

`ASEMModel` compiles the model once; the fit keeps every diagnostic.""",
    ),
    (
        "code",
        """model = ab.ASEMModel(study, "asem", config=ab.SamplerConfig(draws=DRAWS, tune=DRAWS, chains=CHAINS,
                                                          target_accept=0.95))
idata = model.fit(seed=SEED)
diag = diagnose(idata)
print("\\n".join(diag.lines()))
assert diag.divergences <= 0.01 * CHAINS * DRAWS, "too many divergences to read this fit\"""",
    ),
    (
        "md",
        """## 2. The assimilation biases in questionnaire units

A bias `psi` is a coefficient on the log learning rate; what it means for a questionnaire score is
easier to read as a dose: the expected change of trait anxiety and avoidance after ten days of one
kind, for a person at the 10th and at the 90th percentile of initial security (both working
models there), with the population's mean learning rates.""",
    ),
    (
        "code",
        """effects = model.effects()
print("\\n".join(whatif.format_effects(effects)))""",
    ),
    (
        "md",
        """## 3. What if partner 1 buffered twice as often?

`safe@0*=2` doubles the chance that person 0 *receives* safe buffering on a threat day, that is
that partner 1 *gives* it; `soft@0*=2` the same for soft buffering. `start=N_DAYS` applies the
change only after the study, and `days=56` projects eight weeks past it. The fitted and the
altered world share the posterior draws and the random numbers, so their difference is the
alteration's effect alone.

This fit is in the conditional mode: there is no event model, so events past the study happen at
each person's observed rates (buffering per threat day), and a more secure person does not change
what happens next. A fit in the joint mode would let the fitted event model answer the altered
working models.""",
    ),
    (
        "code",
        """tree = model.what_if(["safe@0*=2", "soft@0*=2"], days=56, start=N_DAYS, seed=SEED)
print(tree.attrs["alterations"], "|", tree.attrs["events"])
summary = whatif.summarize_projection(tree)
summary.round(3)""",
    ),
    (
        "md",
        """The average over persons hides who gains: the recipients (person 0) against their partners.""",
    ),
    (
        "code",
        """by_person = whatif.summarize_projection(tree, by="person").loc["trait_anxiety"]
gain = by_person.groupby(level="person")["difference"].mean()
print("mean change of trait anxiety by the end of the projection (altered - fitted):")
print(gain.round(3).to_string())
assert (tree["difference"]["self_model"].isel(day=-1).mean(("chain", "draw")) >= -1e-9).all()""",
    ),
    (
        "code",
        """fig = whatif.plot_projection(tree, "trait_anxiety")""",
    ),
    (
        "md",
        """One insecure recipient: the person 0 who started least secure.""",
    ),
    (
        "code",
        """start_self = tree["fitted"]["self_model"].isel(day=0).mean(("chain", "draw")).sel(person=0)
dyad = int(start_self.idxmin("dyad"))
fig = whatif.plot_projection(tree, "self_model", dyad=dyad, person=0)""",
    ),
    (
        "md",
        """## 4. Forecast without alteration

Each person's trait scores eight weeks on, with the uncertainty of the posterior and of the
future events.""",
    ),
    (
        "code",
        """fc = model.forecast(56, seed=SEED)
whatif.summarize_forecast(fc).round(3)""",
    ),
    (
        "md",
        """## 5. Where did each person's change come from?

The fitted dynamics are replayed on the observed events with every subset of the channels
(confidence-building, positive dependence, threats, buffering) switched off. A channel's share is
its Shapley value, its effect averaged over the orders in which channels can be added, so the
shares add up exactly to the fitted change even though the dynamics are not additive.""",
    ),
    (
        "code",
        """att = model.attribution()
shares = att["trait_anxiety"].mean(("chain", "draw", "dyad", "person")).to_series()
print("mean share of the change in trait anxiety over the study, by channel:")
print(shares.round(4).to_string())
gap = float(np.abs(att["trait_anxiety"].sum("channel") - att["trait_anxiety_total"]).max())
print(f"largest gap between the shares' sum and the fitted change: {gap:.1e}")
assert gap < 1e-10""",
    ),
    (
        "md",
        """## 6. Against the truth

The same projection from the true parameters (one "draw"): does the posterior's interval for the
average gain hold the true gain?""",
    ),
    (
        "code",
        """from asem_bayes.registry import get_variant
from asem_bayes.simulate import true_params

tp = true_params(study)
variant = get_variant("asem")
post_true = xr.Dataset(
    {**{p.name: (("chain", "draw"), [[tp[p.name]]]) for p in variant.params},
     **{p.name: (("chain", "draw", "dyad", "person"), tp[p.name][None, None]) for p in variant.person_params}},
    coords={"chain": [0], "draw": [0], "dyad": study.dyad.values, "person": study.person.values},
)
true_tree = model.what_if(["safe@0*=2", "soft@0*=2"], days=56, start=N_DAYS, seed=SEED,
                          idata=xr.DataTree.from_dict({"posterior": post_true}))
true_gain = float(true_tree["difference"]["trait_anxiety"].isel(day=-1).mean())
row = summary.loc["trait_anxiety"]
print(f"true average change of trait anxiety: {true_gain:+.3f}; posterior mean {row['difference']:+.3f}, "
      f"90% interval [{row['lower']:+.3f}, {row['upper']:+.3f}]")""",
    ),
    (
        "md",
        """**Reading it.** The gain is the recipients' (person 0). Their partners do not change: buffering
protects only the working models of the person buffered, and in the conditional mode events do not
answer the working models, so the recipients' added security does not come back to their partners.
The size depends on how many threats the couples meet: buffering can only soften threats that
happen. Everything here is conditional on the model: a projection reruns the fitted dynamics, it
does not test them; compare variants first (`comparing_variants.ipynb`).""",
    ),
]


def main() -> None:
    nbgen.write(nbgen.build(CELLS, "what-if"), Path(__file__).with_name("what_if.ipynb"))


if __name__ == "__main__":
    main()
