"""Exact K-fold cross-validation of ASEM fits, for when PSIS-LOO cannot be trusted.

PSIS-LOO approximates leaving a unit out by reweighting the full posterior. For this
hierarchical time-series model a leave-out unit (a person, even a person-week) carries much of
the information about its own person-level parameters, the leave-one-out posterior is far from
the full one, and Pareto k flags most units. K-fold refits the model K times, each time with one
fold of units' ratings set missing (missing ratings drop out of the likelihood; the days still
advance the working models, and the events stay known in the conditional mode), and scores the
held-out ratings under that fold's posterior. :func:`arviz_stats.loo_kfold` does the
bookkeeping; this module supplies the refits, through one compiled model (the design does not
change when ratings go missing, so nothing is recompiled).

The result is an ``ELPDDataLOOKFold`` that :func:`asem_bayes.compare` accepts in place of a fit.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import xarray as xr
from arviz_stats.loo import SamplingWrapper

from asem_bayes import dims as D
from asem_bayes.inputs import DataError
from asem_bayes.simulate import wave_positions

__all__ = ["kfold", "kfold_split", "KFoldWrapper", "RefitStore", "StoredRefits", "data_fingerprint"]


def data_fingerprint(data: xr.Dataset) -> str:
    """A hash of a study's ratings and events (to refuse comparing results of different data)."""
    import hashlib

    h = hashlib.sha256()
    for name in (*D.RATINGS, *D.EVENTS):
        if name in data:
            h.update(name.encode())
            h.update(np.ascontiguousarray(data[name].values, dtype=float).tobytes())
    return h.hexdigest()[:16]


def kfold_split(unit: str, n_dyads: int, n_days: int, k: int = 4, seed: int = 0) -> np.ndarray:
    """Fold (1..k) of each leave-out unit, in the C order of the unit dims.

    Person-week and person-day units are stratified by person: each person's units are dealt
    round-robin into the folds (in random order, from a random first fold), so every person
    keeps about (k-1)/k of their diary in every refit. A plain random split leaves some
    persons with most of their weeks held out at once and others with none: on one 100 x 56
    study the same model's elpd was 52-60 lower with such a split than with this one
    (``benchmarks/kfold_splits.py``). Person and dyad units are split at random into folds of
    equal size.

    Parameters
    ----------
    unit : {"person-day", "person-week", "person", "dyad"}
        Leave-out unit.
    n_dyads, n_days : int
        Design of the study.
    k : int
        Number of folds (at least 2).
    seed : int
        Seed of the split. Compare fits only by K-fold results made with the same split
        (:func:`asem_bayes.compare` checks this).

    Returns
    -------
    numpy.ndarray
        Integer fold numbers 1..k, one per unit.
    """
    from asem_bayes.model import unit_index

    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    cell_unit = unit_index(unit, n_dyads, n_days)[0]
    n_units = int(cell_unit.max()) + 1
    if k > n_units:
        raise ValueError(f"k = {k} folds but only {n_units} {unit} units")
    rng = np.random.default_rng(seed)
    if unit in ("person-week", "person-day"):
        per_person = n_units // (2 * n_dyads)  # units are person-major: (dyad, person, week|day)
        deal = (np.arange(per_person)[None, :] + rng.integers(0, k, size=(2 * n_dyads, 1))) % k
        folds = rng.permuted(deal, axis=1).reshape(-1)
    else:
        folds = rng.permutation(np.arange(n_units) % k)
    return folds + 1


def unit_values(ll: xr.DataArray) -> np.ndarray:
    """A unit log-likelihood as ``(chain, draw, unit)`` values, its unit dims flattened in C order
    (the order of :func:`asem_bayes.model.unit_index`)."""
    udims = [d for d in ll.dims if d not in ("chain", "draw")]
    ll = ll.transpose("chain", "draw", *udims)
    return ll.values.reshape(ll.sizes["chain"], ll.sizes["draw"], -1)


class KFoldWrapper(SamplingWrapper):
    """:class:`arviz_stats.loo.SamplingWrapper` that refits an ASEM variant with a fold's ratings missing.

    Parameters
    ----------
    fit : xarray.DataTree
        The full-data fit (its ``attrs`` give the leave-out unit).
    data : xarray.Dataset
        The study the fit was made on.
    compiled : CompiledModel
        Compiled for this design, variant and mode.
    sample_kwargs : dict
        Passed to :meth:`CompiledModel.fit` for each refit (``draws``, ``tune``, ``chains``,
        ``seed``, ``target_accept``, ...).
    """

    def __init__(self, fit: xr.DataTree, data: xr.Dataset, compiled: Any, sample_kwargs: dict[str, Any]) -> None:
        from asem_bayes.model import unit_index

        super().__init__(model=compiled, idata_orig=fit)
        self.data = data
        self.unit = str(fit.attrs.get("loo_unit") or "")
        self.inp = compiled.prepare(data)
        self.cell_unit = unit_index(self.unit, self.inp.n_dyads, self.inp.n_days)[0]
        self.n_units = int(self.cell_unit.max()) + 1
        self.sample_kwargs = dict(sample_kwargs)
        self.fold = 0

    def held_out_cells(self, units: np.ndarray) -> np.ndarray:
        """Boolean ``(dyad, person, day)`` mask of the cells whose ratings belong to ``units``."""
        held = np.zeros(self.n_units, bool)
        held[np.asarray(units, dtype=int)] = True
        return held[self.cell_unit].reshape(self.inp.n_dyads, 2, self.inp.n_days)

    def sel_observations(self, idx: np.ndarray) -> tuple[xr.Dataset, np.ndarray]:
        cells = self.held_out_cells(idx)
        train = self.data.copy()
        dims = D.PERSON_DAY_DIMS
        for name in D.DAILY_RATINGS:
            if name in train:
                da = train[name].transpose(*dims)
                train[name] = da.where(~xr.DataArray(cells, dims=dims)).transpose(*train[name].dims)
        if any(name in train for name in D.TRAITS):
            at_waves = cells[:, :, wave_positions(self.data)]  # (dyad, person, wave)
            wdims = D.PERSON_WAVE_DIMS
            for name in D.TRAITS:
                if name in train:
                    da = train[name].transpose(*wdims)
                    train[name] = da.where(~xr.DataArray(at_waves, dims=wdims)).transpose(*train[name].dims)
        return train, np.asarray(idx, dtype=int)

    def sample(self, modified_observed_data: xr.Dataset) -> xr.DataTree:
        self.fold += 1
        kw = dict(self.sample_kwargs)
        if kw.get("seed") is not None:
            kw["seed"] = int(kw["seed"]) + self.fold  # a distinct, reproducible seed per fold
        return self.model.fit(modified_observed_data, loo_unit=None, **kw)

    def get_inference_data(self, fitted_model: xr.DataTree) -> xr.DataTree:
        return fitted_model

    def log_likelihood__i(self, excluded_obs: np.ndarray, idata__i: xr.DataTree) -> xr.DataArray:
        from asem_bayes.model import log_likelihood

        m = self.model
        ll = log_likelihood(idata__i.posterior.to_dataset(), self.inp, m.variant, m.mode, self.unit)["log_lik"]
        flat = unit_values(ll)[:, :, excluded_obs]
        return xr.DataArray(flat, dims=("chain", "draw", "unit"), coords={"unit": excluded_obs})


class RefitStore(Protocol):
    """Where :class:`StoredRefits` keeps each finished refit (e.g. :class:`asem_bayes.sbc.Store`)."""

    def has_fit(self, key: str) -> bool: ...

    def read_fit(self, key: str) -> xr.DataTree: ...

    def write_fit(self, key: str, tree: xr.DataTree) -> Any: ...


class StoredRefits(SamplingWrapper):
    """A K-fold wrapper whose refits are checkpointed: each finished refit is written to ``store``,
    and a refit already there is read back instead of sampled again.

    So an interrupted K-fold resumes where it stopped, and K-folds that differ only in how the
    held-out units are scored (e.g. both conditionings of
    :func:`asem_bayes.compare.fair_comparison`) share their refits. A refit's key holds ``name``,
    its fold number and a hash of its held-out units, so a different split never reads it; the
    store must be one made for the same data and sampler settings (``Store`` checks its config).

    Parameters
    ----------
    inner : SamplingWrapper
        The wrapper that refits. Its ``sample`` numbers folds with a public ``fold`` counter, as
        :class:`KFoldWrapper` and :class:`asem_bayes.apim.ApimKFoldWrapper` do: the key uses
        it, and a fold read from the store advances it, so the next fold keeps its seed.
    store : RefitStore
        ``has_fit``, ``read_fit`` and ``write_fit`` by key.
    name : str
        The model's name in the keys.
    """

    def __init__(self, inner: SamplingWrapper, store: RefitStore, name: str) -> None:
        super().__init__(model=inner.model, idata_orig=inner.idata_orig)
        self.inner = inner
        self.store = store
        self.name = "".join(c if c.isalnum() or c in "+-._" else "_" for c in name)
        self.key = ""  # of the fold sel_observations selected last (loo_kfold then samples it)
        self.loaded = 0  # refits read from the store rather than sampled

    def sel_observations(self, idx: np.ndarray) -> Any:
        import hashlib

        digest = hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:12]
        self.key = f"{self.name}__fold{self.inner.fold + 1}__{digest}"
        return self.inner.sel_observations(idx)

    def sample(self, modified_observed_data: Any) -> xr.DataTree:
        if self.store.has_fit(self.key):
            self.inner.fold += 1  # as the inner sample would have: the next fold keeps its seed
            self.loaded += 1
            return self.store.read_fit(self.key)
        fitted = self.inner.get_inference_data(self.inner.sample(modified_observed_data))
        self.store.write_fit(self.key, fitted)
        return fitted

    def get_inference_data(self, fitted_model: xr.DataTree) -> xr.DataTree:
        return fitted_model

    def log_likelihood__i(self, excluded_obs: np.ndarray, idata__i: xr.DataTree) -> xr.DataArray:
        return self.inner.log_likelihood__i(excluded_obs, idata__i)


def kfold(
    fit: xr.DataTree,
    data: xr.Dataset,
    *,
    compiled: Any = None,
    k: int = 4,
    folds: np.ndarray | None = None,
    fold_seed: int = 0,
    seed: int = 0,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    cores: int | None = None,
    target_accept: float = 0.9,
    var_name: str = "log_lik",
) -> Any:
    """Exact K-fold cross-validation of a fit, at the fit's leave-out unit.

    Parameters
    ----------
    fit : xarray.DataTree
        Full-data fit with a ``log_likelihood`` group (fit with ``loo_unit`` set, e.g.
        ``"person-week"``, the unit that suits this model: each fold then keeps every person's
        other weeks, so held-out weeks are predicted from the person's own parameters).
    data : xarray.Dataset
        The study the fit was made on.
    compiled : CompiledModel or None
        A model compiled for this design, variant and mode; compiled here if None.
    k : int
        Number of folds (:func:`kfold_split` with ``fold_seed``: stratified by person for
        person-week and person-day units), unless ``folds`` is given.
    folds : array or None
        Fold number (1..K) of each leave-out unit, in the C order of the unit dims.
    fold_seed : int
        Seed of the fold split. Its own seed, not ``seed``, so that fits of several variants to
        the same data share their split by default. Differences between fits with different
        splits mostly measure the splits: on one 100 x 56 study the standard error of the
        difference between two variants was 18 across two splits and 6.5-6.7 on one split.
    seed : int
        Seed of the refits (fold ``j`` samples with ``seed + j``).
    draws, tune, chains, cores, target_accept
        Sampler settings of each refit (give the full-data fit's; by default those of
        :class:`asem_bayes.SamplerConfig`: the sampler's draws and warm-up of
        :func:`asem_bayes.model.default_lengths`, ``target_accept`` 0.9).
    var_name : str
        Log-likelihood variable of ``fit``.

    Returns
    -------
    arviz_stats.utils.ELPDDataLOOKFold
        With ``elpd``, ``se``, pointwise ``elpd_i``; ``asem_unit``, ``asem_mode`` and
        ``asem_folds`` record the leave-out unit, mode and fold split, and ``refit_diagnostics``
        the sampler diagnostics of each fold.

    Raises
    ------
    DataError
        When the fit has no unit log-likelihood, or is in the joint mode (held-out events cannot
        be dropped from the conditioning set there).
    """
    from arviz_stats import loo_kfold

    from asem_bayes.covariates import PersonCovariates
    from asem_bayes.diagnostics import diagnose
    from asem_bayes.model import CompiledModel

    if "log_likelihood" not in fit.children or var_name not in fit["log_likelihood"]:
        raise DataError(f"the fit has no log_likelihood/{var_name}: fit it with loo_unit set (e.g. 'person-week')")
    mode = fit.attrs.get("asem_mode", "conditional")
    if mode != "conditional":
        raise DataError(
            "K-fold is implemented for the conditional mode: in the joint mode the held-out units' events are "
            "both scored and needed by the states, so they cannot simply be left out"
        )
    variant = fit.attrs.get("asem_variant", "asem")
    if compiled is None:  # the fit's own model: its covariates of person-level parameters included
        covariates = PersonCovariates.from_json(fit.attrs.get("person_covariates"), variant)
        compiled = CompiledModel(data, variant, mode=mode, trajectories=False, person_covariates=covariates)
    elif compiled.variant.name != variant or compiled.mode != mode:
        raise ValueError(f"the compiled model is {compiled.variant.name!r}/{compiled.mode}, the fit {variant!r}/{mode}")
    ll_full = fit["log_likelihood"][var_name]
    values = unit_values(ll_full)
    ll = xr.DataArray(
        values,
        dims=("chain", "draw", "unit"),
        coords={"chain": ll_full["chain"].values, "draw": ll_full["draw"].values, "unit": np.arange(values.shape[2])},
        name=var_name,
    )
    tree = xr.DataTree.from_dict(
        {"posterior": fit.posterior.to_dataset(), "log_likelihood": xr.Dataset({var_name: ll})}
    )
    wrapper = KFoldWrapper(
        fit,
        data,
        compiled,
        {"draws": draws, "tune": tune, "chains": chains, "cores": cores, "seed": seed, "target_accept": target_accept},
    )
    if folds is None:
        folds = kfold_split(wrapper.unit, wrapper.inp.n_dyads, wrapper.inp.n_days, k=k, seed=fold_seed)
    folds = np.asarray(folds, dtype=int)
    if folds.shape != (wrapper.n_units,):
        raise ValueError(f"folds must give one fold per {wrapper.unit} unit ({wrapper.n_units}), got {folds.shape}")
    res = loo_kfold(tree, wrapper, pointwise=True, var_name=var_name, folds=folds, save_fits=True)
    res.asem_folds = folds
    res.asem_unit = wrapper.unit
    res.asem_mode = mode
    res.asem_data = data_fingerprint(data)
    res.refit_diagnostics = {j: diagnose(f["fit"]).as_dict() for j, f in sorted((res.fold_fits or {}).items())}
    res.fold_fits = None  # the refits' posteriors are large; their diagnostics are kept above
    return res
