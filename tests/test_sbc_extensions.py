"""SBC of the observation-model extensions: the residual options (docs/model.md section 17) and
correlated person-level effects (section 18).

The default suite checks that each option reaches the simulator, the fitted model and the test
quantities, and that a run's stored settings record it (and stay as they were without it, so
older runs resume). `make test-slow` runs a reduced SBC per extension.

Reduced SBC, declared before the first run: `asem`, conditional mode, 12 couples x 14 days,
50 simulations, nutpie 2 chains x 200 draws after 300 warm-up, every 4th draw kept, ranked on
at most each fit's ESS (``thin_to_ess``). **Pass rule**: every quantity's rank ECDF inside its
family-wise 95% band (Bonferroni over the quantities). That the check can fail is shown by the
miscalibrated backends of ``tests/test_sbc.py`` (too narrow, likelihood left out), which go
through the same code, and here by a control: data with carry-over fitted by the model without
it.
"""

from __future__ import annotations

import numpy as np
import pytest

from asem_bayes.person_correlation import PersonCorrelationError
from asem_bayes.residuals import ResidualError
from asem_bayes.sbc import AsemGenerator, NutpieBackend, load_sbc, run_sbc
from asem_bayes.sbc.compute import BACKENDS, from_spec

OPTIONS = {
    "ar1": dict(residuals=("ar1",)),
    "partner": dict(residuals=("partner",)),
    "person-correlation": dict(person_correlation=("s0", "o0")),
}
EXTRA = {"ar1": ["phi_A", "phi_V"], "partner": ["corr_A", "corr_V"], "person-correlation": ["corr_s0_o0"]}


@pytest.mark.parametrize("name", OPTIONS)
def test_each_option_reaches_simulator_model_and_quantities(name):
    gen = AsemGenerator("asem", 5, 7, **OPTIONS[name])
    backend = NutpieBackend("asem", draws=20, tune=20, chains=1, thin=1, **OPTIONS[name])
    truth, data = gen.generate(3)
    assert set(EXTRA[name]) <= set(truth.data_vars)
    assert not set(EXTRA[name]) & set(data.data_vars)  # the truth is not handed to the fit
    ranked = backend.quantities()[0].names  # the population parameters ranked
    assert set(EXTRA[name]) <= set(ranked)
    assert set(EXTRA[name]) <= set(gen.prior_var())
    assert all(0.05 < gen.prior_var()[n] < 0.5 for n in EXTRA[name])  # (-1, 1) priors: scaled Beta / LKJ
    for spec in (gen.spec(), backend.spec()):
        assert {k: spec[k] for k in OPTIONS[name]} == {k: list(v) for k, v in OPTIONS[name].items()}
    # a stored backend is rebuilt with its option (resume, re-rank)

    assert from_spec(backend.spec(), BACKENDS) == backend


def test_settings_without_options_are_as_before():
    """Runs stored before the options existed must still resume: no new keys without options."""
    for spec in (AsemGenerator("asem", 5, 7).spec(), NutpieBackend("asem").spec()):
        assert "residuals" not in spec and "person_correlation" not in spec


def test_bad_options_are_refused():
    with pytest.raises(ResidualError, match="nonesuch"):
        AsemGenerator("asem", 5, 7, residuals=("nonesuch",))
    with pytest.raises(PersonCorrelationError, match="nonesuch"):
        NutpieBackend("asem", person_correlation=("s0", "nonesuch"))


REDUCED = dict(n_sims=50, seed=2041)


def _reduced_sbc(tmp_path, name, gen_opts, fit_opts):
    gen = AsemGenerator("asem", 12, 14, **gen_opts)
    backend = NutpieBackend("asem", draws=200, tune=300, chains=2, thin=4, **fit_opts)
    res = run_sbc(gen, backend, REDUCED["n_sims"], tmp_path / name, seed=REDUCED["seed"], workers=0, progress=False)
    assert not res.failed, res.failed
    return load_sbc(tmp_path / name, thin_to_ess=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIONS)
def test_reduced_sbc_passes_with_the_option(tmp_path, name):
    res = _reduced_sbc(tmp_path, name, OPTIONS[name], OPTIONS[name])
    table = res.uniformity(familywise=True)
    outside = table.index[~table["uniform"]].tolist()
    print(f"{name}: {len(table)} quantities, outside their family-wise bands: {outside}")
    assert set(EXTRA[name]) <= set(table.index)
    assert not outside, table.loc[outside]


@pytest.mark.slow
def test_control_carry_over_left_out_fails(tmp_path):
    """Data with carry-over (AR(1) residuals, phi from its prior) fitted by the model without it:
    the residual SD and the effects the ratings inform are miscalibrated, and the check says so."""
    res = _reduced_sbc(tmp_path, "control", OPTIONS["ar1"], {})
    table = res.uniformity(familywise=True)
    outside = table.index[~table["uniform"]].tolist()
    print(f"control: outside their family-wise bands: {outside}")
    assert outside, "the model without carry-over passed on data with it"
    assert np.isfinite(res.table["pit"].values).all()
