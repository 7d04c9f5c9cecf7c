"""Test quantities: functions of (parameters, data) ranked in SBC.

A test quantity is a callable ``q(params, data) -> {name: values}``. ``params`` is an
``xarray.Dataset`` whose variables all have a leading dim ``sample`` (person-level parameters
also have ``dyad`` and ``person``); ``data`` is the simulated dataset. ``values`` are 1-d
arrays, one value per sample. SBC evaluates every quantity once on the true values stacked in
front of the posterior draws, and ranks the truth among the draws.

Ranking only parameters can pass while the likelihood is wrong (e.g. a model that ignores the
data returns the prior, whose ranks are uniform); quantities that depend on the data, such as
the log-likelihood, catch that.

Each quantity has ``names`` (the names it returns) and ``kind`` (``"parameter"`` for plain
parameters, which also get z-scores and posterior contraction, else ``"derived"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812 - the project's convention
from asem_bayes.registry import get_variant
from asem_bayes.schema import Variant

__all__ = [
    "TestQuantity",
    "Parameters",
    "AsemLogLik",
    "TrajectoryChange",
    "NormalLogLik",
    "asem_param_arrays",
    "SAMPLE",
]

SAMPLE = "sample"


class TestQuantity(Protocol):
    names: tuple[str, ...]
    kind: str

    def __call__(self, params: xr.Dataset, data: xr.Dataset) -> Mapping[str, np.ndarray]: ...


class Parameters:
    """Scalar parameters themselves (population level).

    Parameters
    ----------
    names : sequence of str
        Variables of ``params`` to rank.
    """

    kind = "parameter"

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def __call__(self, params: xr.Dataset, data: xr.Dataset) -> dict[str, np.ndarray]:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise KeyError(f"parameters {missing} are not in the stored draws (have {sorted(params.data_vars)})")
        return {n: params[n].values.reshape(params.sizes[SAMPLE]) for n in self.names}

    def __repr__(self) -> str:
        return f"Parameters({list(self.names)})"


def asem_param_arrays(params: xr.Dataset, variant: Any) -> dict[str, np.ndarray]:
    """Parameter arrays for :mod:`asem_bayes.dynamics`: population ``(n, 1, 1)``, person ``(n, dyad, person)``."""
    v = get_variant(variant)
    n = params.sizes[SAMPLE]
    out = {}
    for prm in v.params:
        out[prm.name] = params[prm.name].values.reshape(n)[:, None, None]
    for pp in v.person_params:
        out[pp.name] = params[pp.name].transpose(SAMPLE, D.DYAD, D.PERSON).values
    return out


class AsemLogLik:
    """Log-likelihood of the whole dataset under an ASEM variant (``loglik``).

    Uses :func:`asem_bayes.model.log_likelihood`, the numpy twin of the PyMC model's density,
    so the same events, missing-data policy and mode (the joint mode adds the event terms).
    """

    kind = "derived"
    names = ("loglik",)

    def __init__(
        self, variant: str | Variant = "asem", mode: str = "conditional", missing_events: str = "error"
    ) -> None:
        self.variant = get_variant(variant)  # with its options, if any
        self.mode = mode
        self.missing_events = missing_events

    def __call__(self, params: xr.Dataset, data: xr.Dataset) -> dict[str, np.ndarray]:
        from asem_bayes.inputs import prepare_inputs
        from asem_bayes.model import log_likelihood

        inp = prepare_inputs(data, joint=self.mode == "joint", missing_events=self.missing_events)
        post = params.rename({SAMPLE: "draw"}).expand_dims("chain", 0)
        post = post.assign_coords(chain=[0], draw=np.arange(post.sizes["draw"]))
        ll = log_likelihood(post, inp, self.variant, self.mode, unit="dyad")["log_lik"]
        return {"loglik": ll.sum(D.DYAD).values.reshape(-1)}

    def __repr__(self) -> str:
        return f"AsemLogLik({self.variant.name!r}, {self.mode!r})"


class TrajectoryChange:
    """Mean change of the working models over the study (``self_change``, ``others_change``).

    The average over persons of the model of self (others) on the last day minus the first,
    computed from the parameters and the data's events with :func:`asem_bayes.model.states_numpy`.
    """

    kind = "derived"
    names = ("self_change", "others_change")

    def __init__(self, variant: str | Variant = "asem", missing_events: str = "error") -> None:
        self.variant = get_variant(variant)  # with its options, if any
        self.missing_events = missing_events

    def __call__(self, params: xr.Dataset, data: xr.Dataset) -> dict[str, np.ndarray]:
        from asem_bayes.inputs import prepare_inputs
        from asem_bayes.model import states_numpy

        v = self.variant
        inp = prepare_inputs(data, missing_events=self.missing_events)
        S, O, _ = states_numpy(v, asem_param_arrays(params, v), inp.events)  # (day, n, dyad, person)
        return {
            "self_change": (S[-1] - S[0]).mean(axis=(1, 2)),
            "others_change": (O[-1] - O[0]).mean(axis=(1, 2)),
        }

    def __repr__(self) -> str:
        return f"TrajectoryChange({self.variant.name!r})"


class NormalLogLik:
    """Log-likelihood of the toy problem of :class:`~asem_bayes.sbc.NormalGenerator` (``loglik``)."""

    kind = "derived"
    names = ("loglik",)

    def __init__(self, params: Sequence[str] = ("mu", "nu")) -> None:
        self.params = tuple(params)

    def __call__(self, params: xr.Dataset, data: xr.Dataset) -> dict[str, np.ndarray]:
        total = 0.0
        for p in self.params:
            y = data[f"y_{p}"].values[None, :]
            m = params[p].values.reshape(-1, 1)
            total = total + (-0.5 * (y - m) ** 2 - 0.5 * np.log(2 * np.pi)).sum(axis=1)
        return {"loglik": np.asarray(total)}

    def __repr__(self) -> str:
        return f"NormalLogLik({list(self.params)})"
