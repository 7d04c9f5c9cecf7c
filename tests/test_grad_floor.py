"""The gradient-cost floor of ``benchmarks/grad_floor.py`` scores the same model as the package.

At a tiny design: its log-likelihood equals PyMC's log density of the observed variables, a
perturbed rating changes both by the same amount (a control that the two read the same data the
same way), and its gradient equals central differences of itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import asem_bayes as ab
from asem_bayes.inputs import prepare_inputs
from asem_bayes.model import build_model

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "grad_floor.py"


@pytest.fixture(scope="module")
def gf():
    spec = importlib.util.spec_from_file_location("grad_floor", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def setup(gf):
    from pymc.model.transform.conditioning import remove_value_transforms

    study = ab.simulate("asem", 4, 6, seed=3)
    model = remove_value_transforms(build_model(study, "asem", trajectories=False, reparam=False))
    logp = model.compile_logp(vars=model.observed_RVs)
    point = gf.random_point(study, np.random.default_rng(5))
    return study, model, logp, point


def _floor_loglik(gf, study, point):
    P, Z = gf.floor_args(point)
    return gf.Floor(prepare_inputs(study))(P, Z)[0]


def test_loglik_matches_pymc_and_moves_with_a_rating(gf, setup):
    study, model, logp, point = setup
    values = {v.name: point[v.name] for v in model.value_vars}
    ll, ref = _floor_loglik(gf, study, point), float(logp(values))
    assert ll == pytest.approx(ref, rel=1e-10)
    cells = {
        "state_avoidance": {"dyad": 2, "person": 1, "day": 4},
        "trait_anxiety": {"dyad": 1, "person": 0, "wave": 1},
    }
    for name, where in cells.items():
        changed = study.copy(deep=True)
        changed[name].loc[where] = float(changed[name].loc[where]) + 0.7
        ll2 = _floor_loglik(gf, changed, point)
        model.set_data(f"y_{name}", prepare_inputs(changed).obs[name][1])
        try:
            ref2 = float(logp(values))
        finally:
            model.set_data(f"y_{name}", prepare_inputs(study).obs[name][1])
        assert abs(ll2 - ll) > 1e-3
        assert ll2 - ll == pytest.approx(ref2 - ref, rel=1e-8, abs=1e-9)


def test_gradient_matches_central_differences(gf, setup):
    study, _, _, point = setup
    floor = gf.Floor(prepare_inputs(study))
    P, Z = gf.floor_args(point)
    floor(P, Z)
    gP, gZ = floor.gP.copy(), floor.gZ.copy()

    def total(P_, Z_):
        return sum(floor(P_, Z_))

    h = 1e-5
    for i in range(P.size):
        e = np.zeros_like(P)
        e[i] = h * max(1.0, abs(P[i]))
        fd = (total(P + e, Z) - total(P - e, Z)) / (2 * e[i])
        assert fd == pytest.approx(gP[i], rel=1e-5, abs=1e-5), gf.P_NAMES[i]
    for k in range(Z.shape[0]):
        e = np.zeros_like(Z)
        e[k, 3] = h
        fd = (total(P, Z + e) - total(P, Z - e)) / (2 * h)
        assert fd == pytest.approx(gZ[k, 3], rel=1e-5, abs=1e-5), gf.PERSON[k]
