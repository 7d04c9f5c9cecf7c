"""Every posterior draw of a real fit is a valid simulator input (model and simulator share one support).

The fitted model's priors once allowed values the simulator refused (``psi`` outside (-2, 2),
``theta`` above 1.2). Here 100 draws of a fit to the Kashy diary are each simulated from,
person-level values included; none may be refused or give non-finite data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asem_bayes.data import load_diary
from asem_bayes.model import CompiledModel
from asem_bayes.registry import get_variant
from asem_bayes.simulate import simulate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_simulating_from_100_posterior_draws_of_a_real_fit_never_fails(shared_data_dir):
    path = shared_data_dir / "kashy" / "kashy_person_period_pairwise.csv"
    study = load_diary(path, mapping=REPO / "examples" / "mappings" / "kashy.toml").isel(dyad=slice(0, 30))
    v = get_variant("asem")
    cm = CompiledModel(study, v, missing_events="person_rate", trajectories=False)
    # few draws: the test needs draws from the posterior's support, not a converged summary
    fit = cm.fit(study, draws=50, tune=150, chains=2, seed=4, loo_unit=None)
    post = fit["posterior"].to_dataset().stack(sample=("chain", "draw"))
    n = post.sizes["sample"]
    assert n == 100
    n_dyads, n_days = study.sizes["dyad"], study.sizes["day"]
    extremes = {p.name: (np.inf, -np.inf) for p in v.params}
    for k in range(n):
        draw = post.isel(sample=k)
        params = {p.name: float(draw[p.name]) for p in v.params}
        for pp in v.person_params:
            params[pp.name] = draw[pp.name].transpose("dyad", "person").values
        sim = simulate(v, n_dyads, n_days, params=params, seed=k)
        for name in ("state_anxiety", "state_avoidance", "trait_anxiety", "trait_avoidance", "self_model"):
            assert np.isfinite(sim[name].values).all(), f"draw {k}: non-finite {name}"
        for name, (lo, hi) in extremes.items():
            extremes[name] = (min(lo, params[name]), max(hi, params[name]))
    # the draws spread well beyond the reference values (some assimilation bias beyond +-1), so the
    # test exercises a wide part of the support, not only its centre
    psi = [extremes[p] for p in ("psi_pos_s", "psi_neg_s", "psi_pos_o", "psi_neg_o")]
    assert min(lo for lo, _ in psi) < -1.0 or max(hi for _, hi in psi) > 1.0
