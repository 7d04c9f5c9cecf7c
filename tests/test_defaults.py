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
