"""Defaults a user meets when fitting match the documented advice (issue 23)."""

from __future__ import annotations

import inspect

from asem_bayes.asem_model import ASEMModel, SamplerConfig
from asem_bayes.cli import build_parser
from asem_bayes.kfold import kfold
from asem_bayes.model import fit


def test_target_accept_is_0_9_wherever_a_user_fits():
    # README, "Known limits": use target_accept=0.9 for final analyses; so that is the default
    assert SamplerConfig().target_accept == 0.9
    assert inspect.signature(fit).parameters["target_accept"].default == 0.9
    assert inspect.signature(kfold).parameters["target_accept"].default == 0.9
    args = build_parser().parse_args(["fit", "study.nc", "--out", "fit.nc"])
    assert args.target_accept == 0.9


def test_fit_docstrings_promise_reproducibility_only_where_it_holds():
    for doc in (ASEMModel.fit.__doc__, fit.__doc__):
        assert "compile cache" in doc
        assert "makes the fit reproducible" not in doc


def test_draws_and_warm_up_default_by_sampler():
    # nutpie settles its mass matrix within a few hundred warm-up draws (docs/performance.md,
    # "Warm-up"); the samplers with Stan's windowed adaptation keep 1000 + 1000
    from asem_bayes.model import CompiledModel, default_lengths

    assert (SamplerConfig().draws, SamplerConfig().tune) == (1600, 400)
    assert (SamplerConfig(sampler="pymc").draws, SamplerConfig(sampler="pymc").tune) == (1000, 1000)
    assert (SamplerConfig(draws=10).draws, SamplerConfig(draws=10).tune) == (10, 400)  # a chosen value stays
    assert default_lengths("numpyro") == (1000, 1000) and default_lengths("nutpie", 5, 6) == (5, 6)
    for fn in (fit, CompiledModel.fit):  # resolved where the sampler is known, not fixed in the signature
        params = inspect.signature(fn).parameters
        assert params["draws"].default is None and params["tune"].default is None
    args = build_parser().parse_args(["fit", "study.nc", "--out", "fit.nc"])
    assert (args.draws, args.tune) == (None, None)
