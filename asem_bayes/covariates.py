"""Covariates of person-level parameters: which parameter is regressed on what, and the values.

A person-level parameter's linear predictor gains a covariate term (docs/model.md, "Covariate
effects on person-level parameters")::

    value[d, i] = link(mu + X[d, i] @ beta + sd * z[d, i])

:func:`parse` turns what a user writes (a mapping or small formulas) into a
:class:`PersonCovariates` specification checked against a variant's schema;
:meth:`PersonCovariates.matrices` reads the covariate values ``X`` from a study Dataset, with
errors that name the variable and the row. The simulator and the PyMC model both use these, so a
covariate means the same on both sides.

Covariates are variables of the study with ``attrs["role"] = "covariate"`` (or no role) and dims
``(dyad, person)``, or ``(dyad,)`` for couple-level ones (the couple's value holds for both
partners); :func:`add_covariates` adds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D  # noqa: N812
from asem_bayes.registry import get_variant
from asem_bayes.schema import PersonParam, SchemaError, Variant

__all__ = [
    "PersonCovariates",
    "CovariateError",
    "CovariateSpecLike",
    "parse",
    "add_covariates",
    "read_covariate",
    "covariate_shift",
    "data_name",
    "check_effects",
]

CovariateSpecLike = Mapping[str, Sequence[str] | str] | Sequence[str] | str | None
"""What :func:`parse` accepts: ``{"s0": ["arm", "length"]}``, ``{"s0": "arm + length"}``,
``"s0 ~ arm + length; theta_pos_s ~ arm"`` or a list of such formulas, or None (no covariates)."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CovariateError(ValueError):
    """A covariate specification or covariate values do not fit the variant or the study."""


@dataclass(frozen=True)
class PersonCovariates:
    """Which person-level parameters are regressed on which covariates (build with :func:`parse`).

    Parameters
    ----------
    variant : str
        The variant whose schema the terms were checked against.
    terms : tuple of (str, tuple of str)
        ``(person parameter, covariate names)`` in the variant's order of person parameters.
    """

    variant: str
    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def names(self) -> tuple[str, ...]:
        """Every covariate named by some term, each once, in order of first use."""
        return tuple(dict.fromkeys(c for _, cs in self.terms for c in cs))

    def params(self) -> list[PersonParam]:
        """The person parameters that have covariates, in the variant's order."""
        v = get_variant(self.variant)
        return [next(pp for pp in v.person_params if pp.name == name) for name, _ in self.terms]

    def covariates_of(self, name: str) -> tuple[str, ...]:
        """Covariates of person parameter ``name`` (empty when it has none)."""
        return dict(self.terms).get(name, ())

    def coords(self) -> dict[str, list[str]]:
        """Coordinates of the coefficients' dims: ``{"covariate_<param>": [covariate names]}``."""
        return {pp.effect_dim: list(self.covariates_of(pp.name)) for pp in self.params()}

    def to_json(self) -> str:
        """The terms as JSON (what a saved fit records); :meth:`from_json` reads it back."""
        return json.dumps({name: list(cs) for name, cs in self.terms})

    @classmethod
    def from_json(cls, text: str | None, variant: str | Variant) -> PersonCovariates:
        """Inverse of :meth:`to_json`; an empty string or None means no covariates."""
        return parse(json.loads(text) if text else None, variant)

    def matrices(self, data: xr.Dataset) -> dict[str, np.ndarray]:
        """The covariate values of every term, ``{param: X}`` with ``X`` of shape (dyad, person, k).

        Raises
        ------
        CovariateError
            A covariate the study lacks, with other dims, non-numeric, missing or infinite for
            some person, or the same for every person.
        """
        cache = {name: read_covariate(data, name) for name in self.names}
        return {pp: np.stack([cache[c] for c in cs], axis=-1) for pp, cs in self.terms}

    def data_arrays(self, data: xr.Dataset) -> dict[str, np.ndarray]:
        """The covariate matrices by the names of the model's data containers (``X_<param>``)."""
        return {data_name(pp): x for pp, x in self.matrices(data).items()}

    def dataset(self, data: xr.Dataset) -> xr.Dataset:
        """The covariates the terms name, as (dyad, person) variables (couple values repeated)."""
        coords = {D.DYAD: data[D.DYAD].values, D.PERSON: data[D.PERSON].values}
        return xr.Dataset(
            {c: (D.PERSON_DIMS, read_covariate(data, c), {"role": D.ROLE_COVARIATE}) for c in self.names},
            coords=coords,
        )


def covariate_shift(X: Any, beta: Any) -> Any:
    """The covariate term ``X @ beta`` of a linear predictor: ``X`` (dyad, person, k) and ``beta``
    (k,) give (dyad, person); numpy, PyTensor and JAX arrays alike."""
    return (X * beta).sum(axis=-1)


def data_name(param: str) -> str:
    """Name of the data container holding the covariate matrix of person parameter ``param``."""
    return f"X_{param}"


def parse(spec: CovariateSpecLike | PersonCovariates, variant: str | Variant) -> PersonCovariates:
    """Check a covariate specification against a variant's schema.

    Parameters
    ----------
    spec : mapping, str, sequence of str, PersonCovariates or None
        ``{"theta_pos_s": ["arm"], "s0": ["arm", "length"]}``; the right-hand sides may be
        formulas (``{"s0": "arm + length"}``); or formulas ``"param ~ cov + cov"``, several
        separated by ``;`` or newlines, or given as a list. Only sums of covariate names are
        understood: an interaction is a covariate of its own (their product).
    variant : str or Variant
        The variant whose person-level parameters (``Variant.person_params``) may be named.

    Returns
    -------
    PersonCovariates
        Terms in the variant's order of person parameters (empty for None or ``{}``).

    Raises
    ------
    CovariateError
        For a parameter that is not a person-level parameter of the variant, a formula that is
        not a sum of names, or a covariate named twice for one parameter.
    """
    v = get_variant(variant)
    if isinstance(spec, PersonCovariates):
        if spec.variant != v.name:
            return parse(dict(spec.terms), v)
        return spec
    raw = _as_mapping(spec)
    known = v.person_param_names
    unknown = [name for name in raw if name not in known]
    if unknown:
        raise CovariateError(
            f"covariates are given for {unknown}, not person-level parameter(s) of {v.name!r}; "
            f"covariates can shift {known}"
        )
    terms = []
    for pp in v.person_params:
        if pp.name in raw:
            names = _rhs(pp.name, raw[pp.name])
            if names:
                terms.append((pp.name, names))
    return PersonCovariates(v.name, tuple(terms))


def _as_mapping(spec: CovariateSpecLike) -> dict[str, Sequence[str] | str]:
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return dict(spec)
    formulas = re.split(r"[;\n]", spec) if isinstance(spec, str) else list(spec)
    out: dict[str, Sequence[str] | str] = {}
    for f in formulas:
        if not isinstance(f, str):
            raise CovariateError(f"a covariate formula must be a string like 's0 ~ arm', got {f!r}")
        if not f.strip():
            continue
        if f.count("~") != 1:
            raise CovariateError(f"covariate formula {f.strip()!r} needs the form 'param ~ cov + cov'")
        lhs, rhs = (x.strip() for x in f.split("~"))
        if lhs in out:
            raise CovariateError(f"covariate formulas give {lhs!r} twice; write one formula per parameter")
        out[lhs] = rhs
    return out


def _rhs(param: str, rhs: Sequence[str] | str) -> tuple[str, ...]:
    """Covariate names of one term, from a list or a formula's right-hand side."""
    names = [x.strip() for x in rhs.split("+")] if isinstance(rhs, str) else list(rhs)
    if isinstance(rhs, str) and rhs.strip() in ("", "1"):
        return ()
    bad = [x for x in names if not isinstance(x, str) or not _NAME.match(x)]
    if bad:
        raise CovariateError(
            f"covariates of {param!r} must be variable names joined by '+', got {bad} in {rhs!r} "
            "(for an interaction add the product as a covariate of its own)"
        )
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        raise CovariateError(f"covariate(s) {twice} named twice for {param!r}")
    return tuple(names)


def read_covariate(data: xr.Dataset, name: str) -> np.ndarray:
    """One covariate's values per person, shape (dyad, person), float64, validated.

    Raises
    ------
    CovariateError
        See :meth:`PersonCovariates.matrices`.
    """
    if name not in data.data_vars:
        raise CovariateError(
            f"the study has no covariate {name!r}: add it as a variable with dims (dyad, person), or (dyad,) "
            "for a couple-level covariate (asem_bayes.covariates.add_covariates)"
        )
    x = data[name]
    role = x.attrs.get("role", D.ROLE_COVARIATE)
    if role != D.ROLE_COVARIATE:
        raise CovariateError(
            f"study variable {name!r} has role {role!r}, not {D.ROLE_COVARIATE!r}: it cannot be a covariate"
        )
    if x.dims == (D.DYAD,):
        x = x.expand_dims({D.PERSON: data[D.PERSON].values}, axis=1)
    elif set(x.dims) == set(D.PERSON_DIMS):
        x = x.transpose(*D.PERSON_DIMS)
    else:
        raise CovariateError(
            f"covariate {name!r} has dims {x.dims}; a covariate has dims (dyad, person), or (dyad,) for a "
            "couple-level one"
        )
    if x.dtype.kind not in "biuf":
        raise CovariateError(
            f"covariate {name!r} is not numeric (dtype {x.dtype}): code two groups as 0/1, more groups as one 0/1 "
            "covariate per group but a reference group (numeric codes only for an ordered scale)"
        )
    values = np.asarray(x.values, dtype=float)
    _check_values(data, name, values)
    return values


def _check_values(data: xr.Dataset, name: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        d, i = np.argwhere(bad)[0]
        label = data[D.DYAD].values[d]
        label = label.item() if isinstance(label, np.generic) else label
        raise CovariateError(
            f"covariate {name!r} is missing or infinite for {int(bad.sum())} person(s), the first at "
            f"dyad={label!r}, person={int(data[D.PERSON].values[i])}: the model needs every person's value "
            "(impute it, or leave the couple out)"
        )
    if values.size > 1 and np.ptp(values) == 0:
        raise CovariateError(
            f"covariate {name!r} takes the value {values.flat[0]:g} for every person: its coefficient cannot be "
            "told apart from the population mean"
        )


def add_covariates(study: xr.Dataset, **covariates: Any) -> xr.Dataset:
    """A copy of ``study`` with covariates added (``attrs["role"] = "covariate"``).

    Parameters
    ----------
    study : xarray.Dataset
        The study.
    **covariates : array-like or xarray.DataArray
        Values per couple, shape (dyad,), or per person, shape (dyad, person); a DataArray keeps
        its dims (and is aligned on the study's labels).

    Returns
    -------
    xarray.Dataset
        With the covariates, validated as :meth:`PersonCovariates.matrices` would.

    Examples
    --------
    >>> arm = np.arange(study.sizes["dyad"]) % 2                  # doctest: +SKIP
    >>> study = add_covariates(study, arm=arm)                    # doctest: +SKIP
    """
    out = study.copy()
    for name, value in covariates.items():
        if isinstance(value, xr.DataArray):
            da = value.copy()
        else:
            arr = np.asarray(value)
            dims = {1: (D.DYAD,), 2: D.PERSON_DIMS}.get(arr.ndim)
            if dims is None or arr.shape != tuple(study.sizes[d] for d in dims):
                raise CovariateError(
                    f"covariate {name!r} has shape {arr.shape}; give ({study.sizes[D.DYAD]},) per couple or "
                    f"({study.sizes[D.DYAD]}, {study.sizes[D.PERSON]}) per person"
                )
            da = xr.DataArray(arr, dims=dims)
        da.attrs = {**da.attrs, "role": D.ROLE_COVARIATE}
        out[name] = da
        read_covariate(out, name)
    return out


def check_effects(spec: PersonCovariates, effects: Mapping[str, Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Coefficient values of a simulation, ``{param: beta}`` in the order of ``spec``'s terms.

    Raises
    ------
    SchemaError
        A coefficient that is not finite.
    """
    out = {}
    for name, cs in spec.terms:
        beta = np.array([float(effects[name][c]) for c in cs])
        if not np.all(np.isfinite(beta)):
            raise SchemaError(f"effects of {name!r} must be finite, got {dict(effects[name])}")
        out[name] = beta
    return out
