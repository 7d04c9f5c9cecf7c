"""``ASEMModel``: one object from a study and a variant to a fit you can save, reload and predict from.

In the style of bambi's and pymc-marketing's model objects: build it from a study, a variant and
a :class:`SamplerConfig`, then :meth:`ASEMModel.fit`; :meth:`~ASEMModel.refit` fits another study
of the same design without recompiling; :meth:`~ASEMModel.sample_posterior_predictive` and
:meth:`~ASEMModel.log_likelihood` work on any posterior, also one loaded from disk;
:meth:`~ASEMModel.save` writes one compressed netCDF file that :meth:`ASEMModel.load` turns back
into the same model (configuration, design, study, package version; a hash refuses a study that
differs from the one fitted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from asem_bayes import dims as D
from asem_bayes import whatif
from asem_bayes.covariates import CovariateSpecLike, PersonCovariates, parse
from asem_bayes.inputs import DataError, prepare_inputs
from asem_bayes.model import (
    CompiledModel,
    check_mode,
    default_lengths,
    log_likelihood,
    posterior_predictive,
    resolve_variant,
    trajectories,
)
from asem_bayes.person_correlation import parse_names
from asem_bayes.progress import is_terminal, stage
from asem_bayes.registry import get_variant
from asem_bayes.residuals import refuse_likert
from asem_bayes.whatif import Alteration

__all__ = ["ASEMModel", "SamplerConfig", "study_hash", "FitFileError"]

FORMAT = "asem-bayes fit 1"  # written into every saved fit; load refuses other formats


class FitFileError(ValueError):
    """A file is not a fit saved by :meth:`ASEMModel.save`, or does not match the study given."""


@dataclass(frozen=True)
class SamplerConfig:
    """How a model is sampled.

    Parameters
    ----------
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}
        NUTS implementation (nutpie, compiled with numba, is the default).
    draws, tune : int or None
        Draws kept per chain and warm-up draws per chain; ``None`` takes the sampler's
        :func:`~asem_bayes.model.default_lengths` (nutpie: 1600 after 400, the others: 1000
        after 1000), so a config always holds the numbers it ran with.
    chains : int
        Chains.
    target_accept : float
        Target acceptance of the step-size adaptation. The default 0.9 is the setting advised for
        final analyses (the latent scale of the working models is a slow direction; README,
        "Known limits"); calibration runs (SBC, model recovery) state theirs explicitly.
    cores : int or None
        Chains run in parallel (default: one per chain).
    """

    sampler: str = "nutpie"
    draws: int | None = None
    tune: int | None = None
    chains: int = 4
    target_accept: float = 0.9
    cores: int | None = None

    def __post_init__(self) -> None:
        draws, tune = default_lengths(self.sampler, self.draws, self.tune)
        object.__setattr__(self, "draws", draws)  # frozen: set once, here
        object.__setattr__(self, "tune", tune)


def study_hash(study: xr.Dataset) -> str:
    """A hash of what a fit sees of a study: its observed variables, their coordinates and scale."""
    h = hashlib.sha256()
    for name in sorted(k for k in (*D.EVENTS, *D.DAILY_RATINGS, *D.TRAITS, *_covariate_vars(study)) if k in study):
        x = np.ascontiguousarray(study[name].values, dtype=np.float64)
        h.update(name.encode())
        h.update(str(study[name].dims).encode())
        h.update(x.tobytes())
    for c in (D.DYAD, D.DAY, "wave_day"):
        if c in study.coords:
            h.update(np.asarray(study[c].values).astype(str).tobytes())
    h.update(str(int(study.attrs.get("likert", 0) or 0)).encode())
    return h.hexdigest()[:16]


# a loaded diary's attrs kept with a fit
PROVENANCE = ("source", "mapping", "layout", "scales", "rating_scales", "load_report")


def _covariate_vars(study: xr.Dataset) -> list[str]:
    """The study's variables with ``attrs["role"] = "covariate"``."""
    return [str(k) for k, x in study.data_vars.items() if x.attrs.get("role") == D.ROLE_COVARIATE]


def _observed_study(study: xr.Dataset, covariates: tuple[str, ...] = ()) -> xr.Dataset:
    """The observed part of a study that a fit needs (events, ratings, traits, covariates: those
    with the covariate role and those the model names, coordinates, scale), with where it came
    from: the file, the mapping, the load report and the file's person ids."""
    named = dict.fromkeys([*_covariate_vars(study), *covariates])
    keep = [k for k in (*D.EVENTS, *D.DAILY_RATINGS, *D.TRAITS, *named) if k in study]
    out = study[keep].copy()  # keeps the coordinates, the file's person ids (person_id) among them
    for k in out.coords:
        if out[k].dtype == object:  # netCDF stores labels as fixed strings
            out = out.assign_coords({k: out[k].astype(str)})
    out.attrs = {"likert": int(study.attrs.get("likert", 0) or 0)}
    out.attrs.update({k: str(study.attrs[k]) for k in PROVENANCE if k in study.attrs})
    return out


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asem-bayes")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


class ASEMModel:
    """An ASEM variant for one study, compiled once.

    Parameters
    ----------
    study : xarray.Dataset
        Simulated (:func:`asem_bayes.simulate`) or loaded (:func:`asem_bayes.load_diary`) study.
    variant : str
        ``stable``, ``uniform``, ``asem``, ``buffer_enhances`` or ``asem_fatigue``.
    mode : {"conditional", "joint"} or None
        Condition on the events, or also score them (default: the variant's default mode).
    missing_events : {"error", "absent", "person_rate"}
        Policy for missing event reports (docs/model.md section 10).
    config : SamplerConfig or None
        Sampler settings (default :class:`SamplerConfig`).
    reparam : bool
        Sample in the sheared coordinates (default; the same posterior, faster mixing).
    compiled : CompiledModel or None
        A model already compiled for this study's design, to share (as :meth:`refit` does);
        ``variant``, ``mode``, the sampler and the covariates are then its own.
    person_covariates : mapping, str, sequence of str or None
        Covariates of person-level parameters (:func:`asem_bayes.model.build_model`), e.g.
        ``{"s0": ["arm"]}`` or ``"theta_pos_s ~ arm"``; the covariates are variables of
        ``study``. Saved with the fit, so :meth:`load` rebuilds the same model.
    residuals : sequence of {"ar1", "partner"}
        Extensions of the daily ratings' residuals (docs/model.md section 17; default none):
        carry-over or the partners' same-day correlation. Saved with the fit.
    person_correlation : sequence of str
        Person-level parameters whose effects are correlated across persons, e.g. ``("s0", "o0")``
        (docs/model.md section 18; default none): an ``LKJ(2)`` prior on their correlation, in the
        posterior as ``corr_<a>_<b>``. Saved with the fit.

    Examples
    --------
    >>> model = ASEMModel(study, "asem", config=SamplerConfig(draws=500))  # doctest: +SKIP
    >>> idata = model.fit(seed=1)                                            # doctest: +SKIP
    >>> model.save("fit.nc"); again = ASEMModel.load("fit.nc")              # doctest: +SKIP
    """

    def __init__(
        self,
        study: xr.Dataset,
        variant: str = "asem",
        *,
        mode: str | None = None,
        missing_events: str = "error",
        config: SamplerConfig | None = None,
        reparam: bool = True,
        compiled: CompiledModel | None = None,
        person_covariates: CovariateSpecLike | PersonCovariates = None,
        residuals: Sequence[str] = (),
        person_correlation: Sequence[str] = (),
    ) -> None:
        self.study = study
        self.config = config or SamplerConfig()
        self.missing_events = missing_events
        self.reparam = reparam
        self._variant = (
            compiled.variant if compiled is not None else resolve_variant(variant, residuals, person_correlation)
        )
        self.mode = compiled.mode if compiled is not None else check_mode(self._variant, mode)
        self._compiled_model = compiled
        self.person_covariates = (
            compiled.person_covariates if compiled is not None else parse(person_covariates, self._variant)
        )
        self.person_covariates.matrices(study)  # the study holds them, numeric and complete
        # What predictions and the log-likelihood need; the sampler's model compiles on first fit.
        self._inputs = prepare_inputs(study, joint=self.mode == "joint", missing_events=missing_events)
        refuse_likert(self._variant.residuals, self._inputs.likert)  # (docs/model.md section 17)
        self.idata: xr.DataTree | None = None

    @property
    def variant(self) -> str:
        """The variant's name."""
        return self._variant.name

    @property
    def _compiled(self) -> CompiledModel:
        """The sampler's model, compiled on first use (loading a fit to predict from it does not)."""
        if self._compiled_model is None:
            self._compiled_model = CompiledModel(
                self.study,
                self._variant,
                mode=self.mode,
                sampler=self.config.sampler,
                missing_events=self.missing_events,
                trajectories=True,  # for plots; save() leaves them out of the file, load() recomputes them
                reparam=self.reparam,
                person_covariates=self.person_covariates,
            )
        return self._compiled_model

    @property
    def compiled(self) -> CompiledModel:
        """The compiled sampler model (compiles on first use), to share with a run that refits it,
        e.g. :func:`asem_bayes.kfold.kfold` or a recovery worker's cache."""
        return self._compiled

    def __repr__(self) -> str:
        d = self._inputs
        state = "fitted" if self.idata is not None else "not fitted"
        return (
            f"ASEMModel({self.variant!r}, mode={self.mode!r}, {d.n_dyads} dyads x {d.n_days} days, "
            f"sampler={self.config.sampler!r}, {state})"
        )

    # -- fitting -------------------------------------------------------------------------------

    def fit(
        self,
        seed: int | None = None,
        *,
        loo_unit: str | None = "person-week",
        posterior_predictive: bool = False,
        progressbar: bool = False,
    ) -> xr.DataTree:
        """Sample the posterior; keeps it as :attr:`idata` and returns it.

        Parameters
        ----------
        seed : int or None
            Sampler seed. The same seed repeats the same draws exactly only while the log density
            is the same compiled code: a model compiled fresh (the first compile of a design on a
            machine) and one loaded from PyTensor's compile cache (every later compile) differ in
            the last bits of a few gradient entries, so the first fit's draws differ from the later
            ones' (equal in distribution). Refits of this object and later sessions, once the cache
            holds the model, repeat each other exactly; set ``PYTENSOR_FLAGS=numba__fastmath=False``
            for bit-identical draws whatever the cache (docs/model.md section 3).
        loo_unit : {"person-day", "person-week", "person", "dyad"} or None
            Leave-out unit of the stored log-likelihood (``None`` skips it).
        posterior_predictive : bool
            Add replicated ratings and trait waves.
        progressbar : bool
            Report progress on stderr: lines when compiling and sampling start and end (with their
            durations; every minute while they run when stderr is not a terminal, e.g. a log
            file), and the sampler's progress bar on a terminal.

        Returns
        -------
        xarray.DataTree
            ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``,
            ``log_likelihood``, optionally ``posterior_predictive``; ``attrs`` record the variant,
            mode, sampler settings, missing-event policy, seed, package version and study hash.
        """
        c = self.config
        if self._compiled_model is None:
            d = self._inputs
            what = f"compiling {self.variant!r} for {d.n_dyads} dyads x {d.n_days} days ({c.sampler})"
            with stage(what, enabled=progressbar):
                self._compiled  # noqa: B018 - compiles the model
        what = f"sampling {self.variant!r}: {c.chains} chain(s) x ({c.tune} warm-up + {c.draws} draws)"
        with stage(what, enabled=progressbar, bar=True):
            dt = self._fit_compiled(seed, loo_unit, posterior_predictive, progressbar and is_terminal())
        dt.attrs.update(self._provenance())
        self.idata = dt
        return dt

    def _fit_compiled(
        self, seed: int | None, loo_unit: str | None, posterior_predictive: bool, progressbar: bool
    ) -> xr.DataTree:
        c = self.config
        return self._compiled.fit(
            self.study,
            draws=c.draws,
            tune=c.tune,
            chains=c.chains,
            seed=seed,
            cores=c.cores,
            loo_unit=loo_unit,
            posterior_predictive=posterior_predictive,
            progressbar=progressbar,
            target_accept=c.target_accept,
        )

    def refit(self, study: xr.Dataset, seed: int | None = None, **kwargs: Any) -> ASEMModel:
        """Fit another study of the same design with the compiled model (no recompiling).

        Returns a new :class:`ASEMModel` for ``study``, already fitted (keyword arguments as in
        :meth:`fit`).
        """
        key = prepare_inputs(study, joint=self.mode == "joint", missing_events=self.missing_events).design_key
        if key != self._inputs.design_key:
            raise DataError(
                f"study design {key} differs from the compiled design "
                f"{self._inputs.design_key}: build a new ASEMModel for it"
            )
        other = ASEMModel(
            study,
            self.variant,
            missing_events=self.missing_events,
            config=self.config,
            reparam=self.reparam,
            compiled=self._compiled,
        )
        other.fit(seed, **kwargs)
        return other

    def _posterior(self, idata: xr.DataTree | None) -> xr.Dataset:
        idata = idata if idata is not None else self.idata
        if idata is None:
            raise RuntimeError("the model has no posterior yet: call fit() first, or pass idata")
        return idata["posterior"].to_dataset()

    def sample_posterior_predictive(self, idata: xr.DataTree | None = None, seed: int | None = None) -> xr.Dataset:
        """Replicated daily ratings and trait waves for every posterior draw (default: :attr:`idata`)."""
        rng = np.random.default_rng(seed)
        return posterior_predictive(self._posterior(idata), self._inputs, self._variant, rng)

    def log_likelihood(self, unit: str = "person-week", idata: xr.DataTree | None = None) -> xr.Dataset:
        """Log-likelihood of every posterior draw summed within each leave-out ``unit``."""
        return log_likelihood(self._posterior(idata), self._inputs, self._variant, self.mode, unit)

    def kfold(self, k: int = 4, *, seed: int = 0, fold_seed: int = 0, unit: str = "person-week") -> xr.Dataset:
        """Exact K-fold cross-validation of the fitted model (:func:`asem_bayes.kfold.kfold`).

        Refits the compiled model ``k`` times, each with one fold of ``unit``\\ s held out; compare
        models only on results with the same ``fold_seed``.
        """
        from asem_bayes.kfold import kfold

        if self.idata is None:
            raise RuntimeError("the model has no posterior yet: call fit() first")
        if self.idata.attrs.get("loo_unit") != unit:
            self.idata["log_likelihood"] = self.log_likelihood(unit)
            self.idata.attrs["loo_unit"] = unit
        c = self.config
        return kfold(
            self.idata, self.study, compiled=self._compiled, k=k, fold_seed=fold_seed, seed=seed,
            draws=c.draws, tune=c.tune, chains=c.chains, cores=c.cores, target_accept=c.target_accept,
        )  # fmt: skip

    # -- what the fit says about other worlds (asem_bayes.whatif) -------------------------------

    def what_if(
        self,
        alterations: Sequence[str | Alteration] = (),
        *,
        days: int = 0,
        start: int = 0,
        schedule: xr.Dataset | None = None,
        n_draws: int | None = 200,
        seed: int | None = None,
        idata: xr.DataTree | None = None,
    ) -> xr.DataTree:
        """Fitted versus altered world for the posterior draws (:func:`asem_bayes.whatif.project`).

        Examples
        --------
        >>> tree = model.what_if(["safe@0*=2", "soft@0*=2"], days=28)  # doctest: +SKIP
        >>> whatif.summarize_projection(tree)                            # doctest: +SKIP
        """
        return whatif.project(
            self._posterior(idata), self._inputs, self._variant, self.mode, alterations,
            days=days, start=start, schedule=schedule, n_draws=n_draws, seed=seed,
        )  # fmt: skip

    def forecast(
        self, days: int, *, n_draws: int | None = 200, seed: int | None = None, idata: xr.DataTree | None = None
    ) -> xr.Dataset:
        """Working models, trait scores and daily ratings ``days`` past the study
        (:func:`asem_bayes.whatif.forecast`)."""
        return whatif.forecast(
            self._posterior(idata), self._inputs, self._variant, self.mode, days, n_draws=n_draws, seed=seed
        )

    def attribution(self, *, n_draws: int | None = 200, idata: xr.DataTree | None = None) -> xr.Dataset:
        """Each channel's share of each person's fitted change (:func:`asem_bayes.whatif.attribution`)."""
        return whatif.attribution(self._posterior(idata), self._inputs, self._variant, n_draws=n_draws)

    def effects(self, *, percentiles: Sequence[float] = (10, 90), idata: xr.DataTree | None = None) -> xr.Dataset:
        """Trait changes after ten days of one kind, by security percentile
        (:func:`asem_bayes.whatif.observable_effects`)."""
        return whatif.observable_effects(self._posterior(idata), self._variant, percentiles=percentiles)

    # -- saving and loading --------------------------------------------------------------------

    def _provenance(self) -> dict[str, Any]:
        return {
            "asem_format": FORMAT,
            "asem_version": _package_version(),
            "asem_variant": self.variant,
            "asem_mode": self.mode,
            "missing_events": self.missing_events,
            "sampler_config": json.dumps(asdict(self.config)),
            "sampling_coordinates": "sheared" if self.reparam else "schema",
            "study_hash": study_hash(self.study),
            "rating_scales": str(self.study.attrs.get("rating_scales", "")),  # how estimates map to the data's units
            "person_covariates": self.person_covariates.to_json() if self.person_covariates else "",
            "residuals": ",".join(self._variant.residuals),
            "person_correlation": ",".join(self._variant.person_correlation),
        }

    def save(self, path: str | Path, *, trajectories: bool = False) -> Path:
        """Write the fit and its study to one compressed netCDF file.

        The posterior's parameters keep float64 (summaries are unchanged). What :meth:`load`
        recomputes exactly is left out: the standardised person effects ``*_z``, the
        log-likelihood and, unless ``trajectories=True`` (then in float32), the working models'
        trajectories.
        """
        if self.idata is None:
            raise RuntimeError("nothing to save: call fit() first")
        dt = self.idata.copy()
        post = dt["posterior"].to_dataset()
        traj = [k for k in ("self_model", "others_model") if k in post]
        # What load() recomputes stays out: the standardised person effects, the log-likelihood
        # and (unless asked for) the trajectories; a laptop-sized file for a full-size fit.
        derived = [f"{pp.name}_z" for pp in self._variant.person_params if f"{pp.name}_z" in post]
        dt["posterior"] = post.drop_vars(derived + ([] if trajectories else traj))
        if "log_likelihood" in dt.children:
            del dt["log_likelihood"]
        dt["study"] = _observed_study(self.study, self.person_covariates.names)
        dt.attrs.update(self._provenance())
        path = Path(path)
        enc = {}
        for node in dt.subtree:
            ds = node.to_dataset(inherit=False)
            enc[node.path] = {
                k: {"zlib": True, "complevel": 4, **({"dtype": "float32"} if k in traj else {})}
                for k, v in ds.data_vars.items()
                if v.dtype.kind in "fiub"
            }
        dt.to_netcdf(path, engine="h5netcdf", encoding=enc)
        return path

    @classmethod
    def load(cls, path: str | Path, study: xr.Dataset | None = None, *, config: SamplerConfig | None = None):
        """Rebuild a saved model and its posterior from a file written by :meth:`save`.

        Parameters
        ----------
        path : path
            The file.
        study : xarray.Dataset or None
            The study to attach; refused unless it is the one fitted (same hash). Default: the
            study stored in the file.
        config : SamplerConfig or None
            Sampler settings for later refits (default: the saved ones).
        """
        dt = xr.open_datatree(path, engine="h5netcdf").load()
        if dt.attrs.get("asem_format") != FORMAT:
            raise FitFileError(f"{path} is not a fit saved by ASEMModel.save (no {FORMAT!r} marker)")
        stored = dt["study"].to_dataset()
        stored.attrs["likert"] = int(stored.attrs.get("likert", 0))
        if study is not None and study_hash(study) != dt.attrs["study_hash"]:
            raise FitFileError(
                f"the study given differs from the one fitted in {path} (hash {study_hash(study)} against "
                f"{dt.attrs['study_hash']}): load without a study to use the stored one"
            )
        saved = SamplerConfig(**json.loads(dt.attrs["sampler_config"]))
        model = cls(
            study if study is not None else stored,
            get_variant(dt.attrs["asem_variant"]).name,
            mode=dt.attrs["asem_mode"],
            missing_events=dt.attrs["missing_events"],
            config=config or saved,
            reparam=dt.attrs.get("sampling_coordinates", "sheared") == "sheared",
            person_covariates=PersonCovariates.from_json(dt.attrs.get("person_covariates"), dt.attrs["asem_variant"]),
            residuals=tuple(r for r in str(dt.attrs.get("residuals", "")).split(",") if r),
            person_correlation=parse_names(dt.attrs.get("person_correlation")),
        )
        groups = {node.path: node.to_dataset(inherit=False) for node in dt.subtree if node.name != "study"}
        post = groups["/posterior"]
        if "self_model" not in post:
            groups["/posterior"] = post.merge(trajectories(post, model._inputs, model._variant))
        model.idata = xr.DataTree.from_dict(groups)
        model.idata.attrs.update(dt.attrs)
        if dt.attrs.get("loo_unit"):
            model.idata["log_likelihood"] = model.log_likelihood(dt.attrs["loo_unit"])
        return model

    def with_config(self, **changes: Any) -> ASEMModel:
        """The same compiled model with other sampler settings (the sampler itself cannot change)."""
        config = replace(self.config, **changes)
        if config.sampler != self.config.sampler:
            raise ValueError("a different sampler needs a new ASEMModel (it compiles another density)")
        return ASEMModel(
            self.study, self.variant, missing_events=self.missing_events, config=config,
            reparam=self.reparam, compiled=self._compiled,
        )  # fmt: skip
