"""Simulator-versus-likelihood checks that need no sampling.

:func:`score_check` tests the identity every correct likelihood satisfies: at the parameters
that generated the data, the score (the gradient of the log-likelihood) has expectation zero.
Couples are independent, so each dyad's score is one independent draw of a mean-zero vector,
and a t statistic over dyads shows, parameter by parameter, whether the simulator and the
likelihood describe the same process. It is far more sensitive than comparing the log density at
the truth with a perturbed point, costs a few seconds of numpy, and points at the parameter
whose part of the model disagrees; this is how to tell a model bug from a sampler problem when
an SBC band fails.

The score is taken in the model's own coordinates: person-level parameters are held at their
standardised values ``z = (link^-1(value) - mu) / sd``, as in the non-centred PyMC model, so
the population means and spreads of person-level parameters are scored through the dynamics
too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.registry import get_variant
from asem_bayes.schema import Variant

__all__ = ["score_check"]


def _batch(v: Variant, points: list[dict[str, float]], z: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Population points -> the ``(n, 1, 1)`` / ``(n, dyad, person)`` layout of the numpy likelihood."""
    out = {prm.name: np.array([pt[prm.name] for pt in points])[:, None, None] for prm in v.params}
    for pp in v.person_params:
        lin = out[pp.mu] + out[pp.sd] * z[pp.name][None]
        out[pp.name] = pp.apply_link(np, lin)
    return out


def score_check(
    study: xr.Dataset,
    variant: str | Variant | None = None,
    params: Mapping[str, Any] | None = None,
    mode: str | None = None,
    rel_step: float = 1e-5,
    missing_events: str = "error",
) -> pd.DataFrame:
    """Per-parameter t statistics of the log-likelihood score at the true parameters.

    Parameters
    ----------
    study : xarray.Dataset
        A simulated study (:func:`asem_bayes.simulate`), or any study when ``params`` is given.
    variant : str or Variant or None
        Variant whose likelihood is scored (default: the study's ``variant`` attribute).
    params : mapping or None
        Where to take the score (default: the true parameters stored in ``study``). Person-level
        values must be given as (dyad, person) arrays.
    mode : {"conditional", "joint"} or None
        Likelihood mode (default: the variant's :func:`asem_bayes.model.default_mode`).
    rel_step : float
        Central finite-difference step, relative to ``max(1, |value|)`` (shrunk for positive
        parameters near zero so that the step stays inside the support).

    Returns
    -------
    pandas.DataFrame
        Indexed by population parameter: ``value``, ``mean_score`` (per dyad), ``se``, ``t``
        (``mean_score / se``; approximately standard normal for each parameter when the
        likelihood matches the process that made the data), ``sum_sq`` (sum over dyads of the
        squared scores, for pooling several studies) and ``in_likelihood`` (False for
        parameters the mode's likelihood does not depend on, whose ``t`` is NaN).

    Notes
    -----
    With many dyads the t statistics are close to standard normal, so an absolute value beyond
    about 4 is a mismatch, not chance. Conditioning on the observed events keeps the score
    mean-zero even when the events depend on the latent states (they depend on past events and
    parameters, never on the ratings), so the check holds for the full simulator in both modes.
    """
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.model import default_mode, pointwise_log_likelihood, unit_index
    from asem_bayes.simulate import true_params

    v = get_variant(variant if variant is not None else study.attrs["variant"])
    mode = mode or default_mode(v)
    truth = dict(true_params(study) if params is None else params)
    z = {pp.name: pp.standardise(truth[pp.name], truth) for pp in v.person_params}
    inp = prepare_inputs(study, joint=mode == "joint", missing_events=missing_events)
    base = {p.name: float(truth[p.name]) for p in v.params}
    steps, points = {}, []
    for prm in v.params:
        x = base[prm.name]
        h = rel_step * max(1.0, abs(x))
        lo = prm.bounds[0]
        if np.isfinite(lo):
            h = min(h, 0.5 * (x - lo))
        steps[prm.name] = h
        points += [{**base, prm.name: x + h}, {**base, prm.name: x - h}]
    ll = pointwise_log_likelihood(inp, v, _batch(v, points, z), mode)
    dyad_of_cell, _, _ = unit_index("dyad", inp.n_dyads, inp.n_days)
    per_dyad = np.zeros((len(points), inp.n_dyads))
    for key, cells in ll.items():
        np.add.at(per_dyad.T, dyad_of_cell[inp.obs[key][0]], cells.T)
    rows = {}
    for j, prm in enumerate(v.params):
        score = (per_dyad[2 * j] - per_dyad[2 * j + 1]) / (2 * steps[prm.name])
        mean, sd = score.mean(), score.std(ddof=1)
        # A parameter absent from the likelihood has a score of rounding noise only.
        informed = bool(np.abs(per_dyad[2 * j] - per_dyad[2 * j + 1]).max() > 1e-9)
        se = sd / np.sqrt(inp.n_dyads)
        rows[prm.name] = {
            "value": base[prm.name],
            "mean_score": mean if informed else 0.0,
            "se": se if informed else np.nan,
            "t": mean / se if informed and se > 0 else np.nan,
            "sum_sq": float(np.sum(score**2)) if informed else 0.0,
            "in_likelihood": informed,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "parameter"
    out.attrs.update(variant=v.name, mode=mode, n_dyads=inp.n_dyads)
    return out
