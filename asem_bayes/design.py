"""Plan a study: power, interval width, contraction and model recovery over a grid of designs.

A researcher states candidate designs (couples, diary days, trait-wave days, Likert or continuous
ratings, missing-day rate, optionally fixed exogenous event rates), an assumed truth (the
variant's reference values, values of their own, or draws from a prior they state) and the
quantities they care about. :func:`run_design` simulates ``reps`` studies of every design, fits
each with the variant the analysis will use, and :class:`DesignResult` reports per design and
quantity:

- **power**: the share of replicates whose central interval (90% by default) excludes the null
  value (zero by default), with a binomial (Wilson) interval for that share;
- the **expected interval width** and the **contraction** (1 - posterior variance / prior
  variance);
- **model-recovery accuracy** for chosen pairs of variants (each pair's two variants simulate
  ``reps`` studies each, both are fitted to every study, and the higher PSIS-LOO elpd at the
  leave-out unit picks one; :func:`asem_bayes.compare`);
- the **smallest design** on the grid that reaches a target power (:meth:`DesignResult.smallest`),
  and power curves and width-versus-size figures.

The fits go through the resumable store and runner of the SBC and model-recovery workflows
(:mod:`asem_bayes.sbc.runner`): one file per fit, checksummed, written as it finishes, so a run
killed at any moment resumes where it stopped; local worker processes or a Dask cluster. Each
worker compiles a model once per design and fitted variant (:func:`~asem_bayes.sbc.runner.worker_cached`)
and refits it on every replicate of that design.

Seeds: the study of replicate ``r`` from variant ``v`` uses the same seed in every design (common
random numbers: with a prior truth, replicate ``r`` has the same population values in every
design), so differences between designs are not blurred by different truths. A fit's key holds
a hash of its design, so a grid can be extended on the same store: designs already fitted are
skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from asem_bayes.registry import get_variant
from asem_bayes.schema import Prior, SchemaError
from asem_bayes.simulate import Design

__all__ = [
    "StudyDesign",
    "design_grid",
    "Truth",
    "run_design",
    "load_design",
    "DesignResult",
    "binomial_interval",
    "parse_truth_items",
]

_KIND = "design"
_ANALYSIS_FILE = "analysis.json"
_DESIGNS_FILE = "designs.json"


# --------------------------------------------------------------------------------------------
# designs


@dataclass(frozen=True)
class StudyDesign:
    """One candidate design of a dyadic diary study.

    Parameters
    ----------
    n_dyads, n_days : int
        Couples and diary days.
    wave_days : tuple of int or None
        Days (0-based) of the trait questionnaires; ``None``: the first and the last day.
    likert : int or None
        ``None`` for continuous daily ratings, ``K`` for 1..K Likert items.
    missing_days : float
        Probability that a person skips a whole diary day.
    exogenous_events : mapping or None
        Fixed daily event rates (``threat``, ``safe``, ``soft``, ``confidence``, ``dependence``;
        an event not named never happens) instead of the simulator's state-dependent event
        model; ``None``: the event model at the assumed truth.
    """

    n_dyads: int
    n_days: int
    wave_days: tuple[int, ...] | None = None
    likert: int | None = None
    missing_days: float = 0.0
    exogenous_events: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_dyads", int(self.n_dyads))
        object.__setattr__(self, "n_days", int(self.n_days))
        if self.n_dyads < 2 or self.n_days < 2:
            raise ValueError(f"a design needs at least 2 dyads and 2 days, got {self.n_dyads} x {self.n_days}")
        if self.wave_days is not None:
            object.__setattr__(self, "wave_days", tuple(int(d) for d in self.wave_days))
        if self.exogenous_events is not None:
            items = self.exogenous_events
            items = items.items() if isinstance(items, Mapping) else items
            object.__setattr__(self, "exogenous_events", tuple(sorted((str(k), float(v)) for k, v in items)))
        object.__setattr__(self, "missing_days", float(self.missing_days))
        sim = self.simulation_design()
        sim.validate()
        sim.waves(self.n_days)

    def simulation_design(self) -> Design:
        """The :class:`asem_bayes.simulate.Design` that simulates this design."""
        exo = dict(self.exogenous_events) if self.exogenous_events is not None else None
        return Design(wave_days=self.wave_days, likert=self.likert, missing_days=self.missing_days,
                      exogenous_events=exo)

    def spec(self) -> dict[str, Any]:
        """The design as JSON-able values (what :meth:`from_spec` reads)."""
        return {
            "n_dyads": self.n_dyads,
            "n_days": self.n_days,
            "wave_days": list(self.simulation_design().waves(self.n_days)),
            "likert": self.likert,
            "missing_days": self.missing_days,
            "exogenous_events": None if self.exogenous_events is None else dict(self.exogenous_events),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> StudyDesign:
        """Rebuild a design from :meth:`spec`."""
        return cls(spec["n_dyads"], spec["n_days"], tuple(spec["wave_days"]), spec.get("likert"),
                   spec.get("missing_days", 0.0), spec.get("exogenous_events"))

    @property
    def key(self) -> str:
        """A file-name-safe identifier: the size and a hash of the whole design."""
        digest = hashlib.sha1(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()[:8]
        return f"n{self.n_dyads:04d}_d{self.n_days:03d}_{digest}"

    @property
    def size(self) -> int:
        """Person-days of diary asked for (couples x days x 2): the cost :meth:`DesignResult.smallest` minimises."""
        return 2 * self.n_dyads * self.n_days

    @property
    def variant_label(self) -> str:
        """What distinguishes the design besides its size (days, waves, scale, missingness, events)."""
        parts = [f"{self.n_days} days"]
        waves = self.simulation_design().waves(self.n_days)
        if waves != (0, self.n_days - 1):
            parts.append(f"waves on days {','.join(map(str, waves))}")
        parts.append(f"Likert 1-{self.likert}" if self.likert else "continuous")
        if self.missing_days:
            parts.append(f"{self.missing_days:.0%} days missed")
        if self.exogenous_events is not None:
            parts.append("events " + ",".join(f"{k}={v:g}" for k, v in self.exogenous_events))
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """E.g. ``40 couples x 28 days, continuous``."""
        return f"{self.n_dyads} couples x {self.variant_label}"


def _even_waves(n_days: int, waves: int) -> tuple[int, ...]:
    if waves < 1:
        raise ValueError(f"waves must be at least 1, got {waves}")
    return tuple(sorted({int(round(x)) for x in np.linspace(0, n_days - 1, waves)}))


def design_grid(
    n_dyads: Iterable[int],
    n_days: Iterable[int],
    *,
    waves: int | Sequence[int] | None = None,
    likert: Iterable[int | None] = (None,),
    missing_days: Iterable[float] = (0.0,),
    exogenous_events: Iterable[Mapping[str, float] | None] = (None,),
) -> list[StudyDesign]:
    """Every combination of the given design factors.

    Parameters
    ----------
    n_dyads, n_days : iterable of int
        Couples and diary days.
    waves : int, sequence of int or None
        Trait waves: a count spread evenly from the first to the last day (``2``: first and
        last), explicit day numbers (the same for every length), or ``None`` (first and last).
    likert, missing_days, exogenous_events : iterables
        As in :class:`StudyDesign`.

    Returns
    -------
    list of StudyDesign
        Ordered by days, then couples, then the other factors.
    """
    out = []
    for days in n_days:
        for n in n_dyads:
            for k in likert:
                for md in missing_days:
                    for exo in exogenous_events:
                        wd = _even_waves(int(days), waves) if isinstance(waves, int) else waves
                        out.append(StudyDesign(n, days, None if wd is None else tuple(wd), k, md, exo))
    return out


# --------------------------------------------------------------------------------------------
# the assumed truth


@dataclass(frozen=True)
class Truth:
    """The assumed truth of the planned study's population parameters.

    Parameters
    ----------
    base : {"reference", "prior"}
        Where values not named below come from: the variant's reference values, or a fresh draw
        from the schema's priors for every replicate.
    values : mapping
        Fixed values (they override ``base``).
    priors : mapping of str to :class:`asem_bayes.schema.Prior`
        Stated priors: each replicate draws these parameters from them (they override ``base``
        and ``values``).

    Notes
    -----
    For the other variant of a model-recovery pair, the names that variant has are used and
    the others ignored.
    """

    base: str = "reference"
    values: Mapping[str, float] = field(default_factory=dict)
    priors: Mapping[str, Prior] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.base not in ("reference", "prior"):
            raise ValueError(f"truth base must be 'reference' or 'prior', got {self.base!r}")
        object.__setattr__(self, "values", {str(k): float(v) for k, v in dict(self.values).items()})
        object.__setattr__(self, "priors", dict(self.priors))

    def check(self, variant: str) -> None:
        """Raise :class:`SchemaError` if a named parameter is not a population parameter of ``variant``."""
        v = get_variant(variant)
        unknown = sorted((set(self.values) | set(self.priors)) - set(v.param_names))
        if unknown:
            raise SchemaError(f"the truth names {unknown}, not population parameters of {v.name!r}")
        v.check(self.values)

    def draw(self, variant: str, rng: np.random.Generator) -> dict[str, float]:
        """The population values of one replicate for ``variant``."""
        v = get_variant(variant)
        pop = v.draw_prior(rng) if self.base == "prior" else v.defaults()
        pop.update({k: x for k, x in self.values.items() if k in pop})
        for name in sorted(self.priors):
            if name in pop:
                pop[name] = float(self.priors[name].draw(rng))
        v.check(pop)
        return pop

    def spec(self) -> dict[str, Any]:
        """JSON-able description (stored with the run)."""
        return {
            "base": self.base,
            "values": dict(sorted(self.values.items())),
            "priors": {k: {"dist": p.dist, **dict(p.kwargs)} for k, p in sorted(self.priors.items())},
        }

    def describe(self) -> str:
        """In words, e.g. ``reference values; psi_neg_s = -0.4; psi_pos_s ~ Normal(1, 0.3)``."""
        parts = ["reference values" if self.base == "reference" else "a prior draw per replicate"]
        parts += [f"{k} = {v:g}" for k, v in sorted(self.values.items())]
        parts += [f"{k} ~ {p}" for k, p in sorted(self.priors.items())]
        return "; ".join(parts)


_PRIOR_RE = re.compile(r"^\s*(\w+)\s*\(([^)]*)\)\s*$")
_PRIOR_ARGS = {"Normal": ("mu", "sigma"), "HalfNormal": ("sigma",), "LogNormal": ("mu", "sigma"),
               "Beta": ("alpha", "beta")}


def _parse_prior(text: str) -> Prior:
    m = _PRIOR_RE.match(text)
    if not m or m.group(1) not in _PRIOR_ARGS:
        raise ValueError(f"cannot read the prior {text!r}; write e.g. Normal(-0.8, 0.2), LogNormal(0, 0.5), "
                         "HalfNormal(0.3) or Beta(4, 2)")
    names = _PRIOR_ARGS[m.group(1)]
    args = [a.strip() for a in m.group(2).split(",") if a.strip()]
    kwargs = {}
    for i, a in enumerate(args):
        key, _, val = a.rpartition("=")
        kwargs[key.strip() or (names[i] if i < len(names) else "?")] = float(val)
    return Prior(m.group(1), kwargs)


def parse_truth_items(items: Iterable[str], base: str = "reference") -> Truth:
    """A :class:`Truth` from ``name=value`` and ``name~Dist(args)`` strings (the CLI's ``--set``)."""
    values, priors = {}, {}
    for item in items:
        if "~" in item:
            name, _, dist = item.partition("~")
            priors[name.strip()] = _parse_prior(dist)
        elif "=" in item:
            name, _, val = item.partition("=")
            values[name.strip()] = float(val)
        else:
            raise ValueError(f"cannot read {item!r}: write name=value or name~Normal(mu, sigma)")
    return Truth(base, values, priors)


# --------------------------------------------------------------------------------------------
# the run


@dataclass(frozen=True)
class _Settings:
    variant: str
    mode: str
    truth: str  # JSON of Truth.spec(), hashable
    pairs: tuple[tuple[str, str], ...]
    loo_unit: str
    draws: int
    tune: int
    chains: int
    target_accept: float
    cores: int | None
    seed: int

    def config(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["truth"] = json.loads(self.truth)
        d["pairs"] = [list(p) for p in self.pairs]
        return {"kind": _KIND, **d}


@dataclass(frozen=True)
class _Job:
    settings: _Settings
    truth: Truth
    design: StudyDesign
    true: str
    rep: int
    fitted: str
    loo: bool


def fit_key(design: StudyDesign, true: str, rep: int, fitted: str) -> str:
    """The store key of one fit."""
    return f"{design.key}__{true}__rep{rep:03d}__{fitted}"


def _name_index(name: str) -> int:
    """A stable integer for a variant name (seeds must not depend on list order)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _dataset(job: _Job) -> xr.Dataset:
    from asem_bayes.sbc.runner import task_seeds
    from asem_bayes.simulate import simulate

    s = job.settings
    truth_seed, sim_seed = task_seeds(s.seed, (_name_index(job.true), job.rep), 2)
    pop = job.truth.draw(job.true, np.random.default_rng(truth_seed))
    return simulate(job.true, job.design.n_dyads, job.design.n_days, params=pop,
                    design=job.design.simulation_design(), seed=sim_seed)


def _fit_tree(job: _Job) -> xr.DataTree:
    from asem_bayes.diagnostics import diagnose
    from asem_bayes.inputs import prepare_inputs
    from asem_bayes.model import CompiledModel
    from asem_bayes.sbc.runner import task_seeds, worker_cached
    from asem_bayes.simulate import true_params

    s = job.settings
    data = _dataset(job)
    (fit_seed,) = task_seeds(s.seed, (_name_index(job.true), job.rep, _name_index(job.fitted),
                                      _name_index(job.design.key)), 1)
    # designs that differ only in event rates or missingness share one compiled model
    shape = prepare_inputs(data, joint=s.mode == "joint").design_key
    cache_key = ("design", job.fitted, s.mode, shape)
    cm = worker_cached(cache_key, lambda: CompiledModel(data, job.fitted, mode=s.mode, trajectories=False))
    tree = cm.fit(data, draws=s.draws, tune=s.tune, chains=s.chains, cores=s.cores, seed=fit_seed,
                  loo_unit=s.loo_unit if job.loo else None, target_accept=s.target_accept)
    names = [n for n in get_variant(job.fitted).param_names if n in tree.posterior]
    with warnings.catch_warnings():  # R-hat of a single chain is undefined (NaN), said in the table
        warnings.simplefilter("ignore", RuntimeWarning)
        diag = diagnose(tree, var_names=names)
    truth = true_params(data)
    attrs = {
        "design": job.design.key, "true_variant": job.true, "fit_variant": job.fitted, "rep": job.rep,
        "asem_variant": job.fitted, "asem_mode": tree.attrs["asem_mode"], "seed": fit_seed,
        "sample_seconds": float(tree.attrs.get("sample_seconds", np.nan)),
        "compile_seconds": float(cm.compile_seconds), "max_rhat": diag.max_rhat,
        "min_ess_bulk": diag.min_ess_bulk, "fit_method": "nuts (nutpie)",
    }
    groups = {
        "/": xr.Dataset(attrs=attrs),
        "posterior": tree.posterior.to_dataset()[names],
        "sample_stats": tree.sample_stats.to_dataset()[["diverging"]],
        "truth": xr.Dataset({k: ((), float(x)) for k, x in truth.items() if np.ndim(x) == 0}),
    }
    if job.loo:  # the pointwise PSIS-LOO, not the log-likelihood draws (about 500 times smaller)
        from asem_bayes.recovery import loo_dataset

        groups["loo"] = loo_dataset(tree, data)
    return xr.DataTree.from_dict(groups)


def _design_task(job: _Job) -> dict[str, Any]:
    """One fit, run where it is scheduled (module level: it is pickled to the workers)."""
    from asem_bayes.sbc.runner import guarded

    return guarded(fit_key(job.design, job.true, job.rep, job.fitted), lambda: _fit_tree(job))


def _fits_of(variant: str, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """``(true, fitted, needs LOO)`` of every fit a replicate of a design needs."""
    need: dict[tuple[str, str], bool] = {(variant, variant): False}
    for a, b in pairs:
        for true in (a, b):
            for fitted in (a, b):
                need[(true, fitted)] = True
    return [(t, f, loo) for (t, f), loo in need.items()]


def _check_pairs(pairs: Iterable[Sequence[str]], mode: str) -> tuple[tuple[str, str], ...]:
    from asem_bayes.model import check_mode

    out = []
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"a model-recovery pair names two different variants, got {tuple(pair)}")
        names = tuple(get_variant(v).name for v in pair)
        for v in names:
            check_mode(get_variant(v), mode)
        out.append(names)
    return tuple(out)


def run_design(
    out: str | Path,
    designs: Sequence[StudyDesign],
    *,
    variant: str = "asem",
    truth: Truth | None = None,
    quantities: Sequence[str] | None = None,
    null: Mapping[str, float] | None = None,
    prob: float = 0.9,
    reps: int = 20,
    pairs: Iterable[Sequence[str]] = (),
    mode: str | None = None,
    loo_unit: str = "person-week",
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    target_accept: float = 0.8,
    cores: int | None = None,
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    retry_failed: bool = False,
) -> DesignResult:
    """Simulate ``reps`` studies of every design, fit them, and tabulate power, width and recovery.

    Parameters
    ----------
    out : path
        The run's directory (one file per fit; running again resumes, and a grid extended with
        new designs fits only those).
    designs : sequence of StudyDesign
        The candidate designs (:func:`design_grid`).
    variant : str
        The variant that simulates the studies and analyses them.
    truth : Truth or None
        The assumed truth (default: the variant's reference values).
    quantities : sequence of str or None
        Population parameters to report (default: the variant's dynamics parameters).
    null : mapping or None
        Null value per quantity (default 0): power is the share of intervals that exclude it.
    prob : float
        Central interval probability.
    reps : int
        Simulated studies per design (and per variant of each pair).
    pairs : iterable of (str, str)
        Pairs of variants for model recovery, e.g. ``[("asem", "uniform")]``.
    mode : {"conditional", "joint"} or None
        Model mode of every fit (default: the variant's default mode).
    loo_unit : {"person-week", "person", "dyad", "person-day"}
        Leave-out unit of PSIS-LOO for the pairs.
    draws, tune, chains, target_accept, cores
        NUTS settings (nutpie) of every fit.
    seed : int
        Run seed; studies and fits derive theirs from it, the variant and the replicate.
    workers, scheduler, client, progress, retry_failed
        As in :func:`asem_bayes.recovery.run_model_recovery`.

    Returns
    -------
    DesignResult
    """
    from asem_bayes.model import check_mode
    from asem_bayes.options import LOO_UNITS
    from asem_bayes.sbc.runner import RunCounts, Store, execute

    v = get_variant(variant)
    mode = check_mode(v, mode)
    truth = truth or Truth()
    truth.check(v.name)
    pairs = _check_pairs(pairs, mode)
    if loo_unit not in LOO_UNITS:
        raise ValueError(f"loo_unit must be one of {LOO_UNITS}, got {loo_unit!r}")
    if reps < 1 or not designs:
        raise ValueError(f"need at least one design and one replicate, got {len(designs)} and {reps}")
    quantities = _check_quantities(v.name, quantities)
    s = _Settings(v.name, mode, json.dumps(truth.spec(), sort_keys=True), pairs, loo_unit, int(draws), int(tune),
                  int(chains), float(target_accept), cores, int(seed))
    store = Store(out, s.config())
    _record(Path(out), designs, quantities, null, prob)
    jobs, skipped, skipped_failed = [], 0, 0
    # Replicate by replicate across the designs: a run cut short leaves every design with about
    # as many replicates (each worker compiles each design's model once, whatever the order).
    for rep in range(reps):
        for d in designs:
            for true, fitted, loo in _fits_of(v.name, pairs):
                k = fit_key(d, true, rep, fitted)
                if store.has_fit(k) or (store.has_error(k) and not retry_failed):
                    skipped += 1
                    skipped_failed += not store.has_fit(k)
                    continue
                jobs.append(_Job(s, truth, d, true, rep, fitted, loo))
    t0 = time.perf_counter()
    keys = [[fit_key(j.design, j.true, j.rep, j.fitted)] for j in jobs]
    statuses = execute(_design_task, jobs, store=store, keys=keys, workers=workers, scheduler=scheduler,
                       client=client, progress=progress, desc="design fits")
    res = load_design(out, designs=designs, reps=reps)
    res.run_seconds = time.perf_counter() - t0
    res.run = RunCounts.of(statuses, skipped=skipped, skipped_failed=skipped_failed)
    return res


def _check_quantities(variant: str, quantities: Sequence[str] | None) -> list[str]:
    v = get_variant(variant)
    if quantities is None:
        return [p.name for p in v.params if p.group == "dynamics"]
    unknown = [q for q in quantities if q not in v.param_names]
    if unknown:
        raise SchemaError(f"{unknown} are not population parameters of {v.name!r}; choose from {v.param_names}")
    return list(quantities)


def _record(out: Path, designs: Sequence[StudyDesign], quantities: list[str], null: Mapping[str, float] | None,
            prob: float) -> None:
    """Write the designs (merged with earlier ones) and the analysis settings next to the store."""
    path = out / _DESIGNS_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update({d.key: d.spec() for d in designs})
    _write_json(path, known)
    _write_json(out / _ANALYSIS_FILE, {"quantities": quantities, "null": dict(null or {}), "prob": prob,
                                       "designs": [d.key for d in designs]})


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# reading a run


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a share ``k / n`` (``(nan, nan)`` for ``n = 0``)."""
    if n == 0:
        return float("nan"), float("nan")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def load_design(
    out: str | Path,
    *,
    designs: Sequence[StudyDesign] | None = None,
    quantities: Sequence[str] | None = None,
    null: Mapping[str, float] | None = None,
    prob: float | None = None,
    reps: int | None = None,
) -> DesignResult:
    """Summarise the stored fits of a design run (no refitting).

    Parameters
    ----------
    out : path
        The run's directory.
    designs : sequence of StudyDesign or None
        Designs to report (default: those of the last run on ``out``).
    quantities, null, prob
        Quantities, null values and interval probability (default: the last run's).
    reps : int or None
        Use replicates ``0..reps-1`` only (default: every stored one).
    """
    from asem_bayes.recovery import prior_variances
    from asem_bayes.sbc.runner import Store

    out = Path(out)
    store = Store(out)
    cfg = store.config
    if cfg.get("kind") != _KIND:
        raise ValueError(f"{out} is not a design run (kind {cfg.get('kind')!r})")
    analysis = json.loads((out / _ANALYSIS_FILE).read_text())
    specs = json.loads((out / _DESIGNS_FILE).read_text())
    if designs is None:
        designs = [StudyDesign.from_spec(specs[k]) for k in analysis["designs"]]
    variant = cfg["variant"]
    quantities = _check_quantities(variant, analysis["quantities"] if quantities is None else quantities)
    null = dict(analysis["null"] if null is None else null)
    prob = float(analysis["prob"] if prob is None else prob)
    pairs = [tuple(p) for p in cfg["pairs"]]
    by_design = _stored_keys(store, reps)
    prior_var = prior_variances(variant)
    rows, rec_rows = [], []
    for d in designs:
        mine = by_design.get(d.key, {})
        own = {rep: k for (t, rep, f), k in mine.items() if t == variant and f == variant}
        for _key, tree in store.read_fits(own[r] for r in sorted(own)):
            rows += _quantity_rows(d, tree, quantities, null, prob, prior_var)
        rec_rows += _recovery_rows(store, d, mine, pairs)
    return DesignResult(
        fits=pd.DataFrame(rows),
        recovery_fits=pd.DataFrame(rec_rows),
        designs=list(designs),
        quantities=list(quantities),
        null={q: float(null.get(q, 0.0)) for q in quantities},
        prob=prob,
        config=dict(cfg),
        failed=store.failed(),
    )


def _stored_keys(store: Any, reps: int | None) -> dict[str, dict[tuple[str, int, str], str]]:
    """design key -> {(true, rep, fitted): store key} of the finished fits."""
    out: dict[str, dict[tuple[str, int, str], str]] = {}
    for k in store.keys():
        dkey, true, rep, fitted = k.split("__")
        r = int(rep[3:])
        if reps is None or r < reps:
            out.setdefault(dkey, {})[(true, r, fitted)] = k
    return out


def _quantity_rows(design: StudyDesign, tree: xr.DataTree, quantities: Sequence[str], null: Mapping[str, float],
                   prob: float, prior_var: Mapping[str, float]) -> list[dict[str, Any]]:
    a = (1 - prob) / 2
    post = tree.posterior
    truth = tree["truth"]
    rows = []
    for q in quantities:
        x = post[q].values.reshape(-1)
        lo, hi = np.quantile(x, [a, 1 - a])
        t = float(truth[q].values) if q in truth else np.nan
        h0 = float(null.get(q, 0.0))
        rows.append({
            "design": design.key, "rep": int(tree.attrs["rep"]), "quantity": q, "truth": t, "null": h0,
            "mean": float(x.mean()), "lower": float(lo), "upper": float(hi), "width": float(hi - lo),
            "excludes_null": bool(h0 < lo or h0 > hi), "covered": bool(lo <= t <= hi),
            "contraction": 1.0 - float(np.var(x, ddof=1)) / prior_var[q],
            "divergences": int(tree.sample_stats["diverging"].sum()), "max_rhat": float(tree.attrs["max_rhat"]),
            "sample_seconds": float(tree.attrs["sample_seconds"]),
            "compile_seconds": float(tree.attrs["compile_seconds"]), "fit_method": tree.attrs.get("fit_method", ""),
        })
    return rows


def _recovery_rows(store: Any, design: StudyDesign, mine: Mapping[tuple[str, int, str], str],
                   pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    from asem_bayes.recovery import compare_stored

    rows = []
    reps = sorted({r for (_, r, _) in mine})
    for a, b in pairs:
        for true in (a, b):
            for rep in reps:
                keys = {mine[(true, rep, f)]: f for f in (a, b) if (true, rep, f) in mine}
                trees = {keys[k]: t for k, t in store.read_fits(keys)}
                if len(trees) < 2:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    table = compare_stored(trees)
                other = b if true == a else a
                rows.append({
                    "design": design.key, "pair": f"{a} vs {b}", "true": true, "rep": rep,
                    "selected": str(table.index[0]), "correct": str(table.index[0]) == true,
                    "elpd_diff": float(table.loc[other, "elpd_diff"]), "dse": float(table.loc[other, "dse"]),
                    "k_bad": int(table["k_bad"].sum()),
                })
    return rows


@dataclass
class DesignResult:
    """What a design run found.

    Attributes
    ----------
    fits : DataFrame
        One row per fit and quantity: ``design`` (key), ``rep``, ``quantity``, ``truth``,
        ``null``, posterior ``mean``, interval ``lower``/``upper``/``width``, ``excludes_null``,
        ``covered``, ``contraction``, ``divergences``, ``max_rhat``, ``sample_seconds``,
        ``compile_seconds``, ``fit_method``.
    recovery_fits : DataFrame
        One row per pair, true variant and replicate: the ``selected`` variant (higher PSIS-LOO
        elpd), ``correct``, the other variant's ``elpd_diff`` and its ``dse``, ``k_bad``.
    designs : list of StudyDesign
    quantities : list of str
    null : dict
        Null value per quantity.
    prob : float
        Central interval probability.
    failed : dict
        Fit key -> last line of its error.
    run : RunCounts or None
        What the run that made this result did; ``None`` when loaded from disk.
    """

    fits: pd.DataFrame
    recovery_fits: pd.DataFrame
    designs: list[StudyDesign]
    quantities: list[str]
    null: dict[str, float]
    prob: float
    config: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    run_seconds: float = float("nan")
    run: Any = None

    def _design_columns(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"design": d.key, "n_dyads": d.n_dyads, "n_days": d.n_days, "waves": len(d.spec()["wave_days"]),
              "likert": d.likert or 0, "missing_days": d.missing_days, "person_days": d.size,
              "label": d.variant_label} for d in self.designs]
        ).set_index("design")

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """Per design and quantity: replicates, power with its binomial interval, mean interval
        width, mean contraction, coverage of the truth, RMSE of the posterior mean, the share of
        fits with divergences and the worst R-hat (timing apart, in :meth:`timing`).

        Parameters
        ----------
        level : float
            Confidence level of the Wilson interval of the power.
        """
        cols = ["n_dyads", "n_days", "waves", "likert", "missing_days", "person_days", "label"]
        if self.fits.empty:
            return pd.DataFrame(columns=["design", "quantity", *cols, "reps", "power", "power_lo", "power_hi"])
        rows = []
        for (dkey, q), g in self.fits.groupby(["design", "quantity"], sort=False):
            k, n = int(g["excludes_null"].sum()), len(g)
            lo, hi = binomial_interval(k, n, level)
            rows.append({
                "design": dkey, "quantity": q, "reps": n, "power": k / n, "power_lo": lo, "power_hi": hi,
                "mean_width": float(g["width"].mean()), "contraction": float(g["contraction"].mean()),
                "coverage": float(g["covered"].mean()),
                "rmse": float(np.sqrt(np.mean((g["mean"] - g["truth"]) ** 2))),
                "truth_mean": float(g["truth"].mean()), "null": float(g["null"].iloc[0]),
                "divergent_fits": float((g["divergences"] > 0).mean()),
                "max_rhat": float(g["max_rhat"].max()),
            })
        df = pd.DataFrame(rows).join(self._design_columns(), on="design")
        order = {d.key: i for i, d in enumerate(self.designs)} | {q: i for i, q in enumerate(self.quantities)}
        df = df.sort_values(["quantity", "design"], key=lambda s: s.map(order))
        return df[["design", "quantity", *cols, *[c for c in df.columns if c not in ("design", "quantity", *cols)]]] \
            .reset_index(drop=True)

    def timing(self) -> pd.DataFrame:
        """Per design: fits of the analysed variant, median and total sampling seconds per fit (in
        one worker; compiling not included) and the compile seconds of the worker that ran them."""
        if self.fits.empty:
            return pd.DataFrame(columns=["design", "fits", "median_sample_seconds", "total_sample_seconds"])
        per = self.fits.drop_duplicates(["design", "rep"])
        g = per.groupby("design", sort=False)
        df = pd.DataFrame({"fits": g.size(), "median_sample_seconds": g["sample_seconds"].median(),
                           "total_sample_seconds": g["sample_seconds"].sum(),
                           "median_compile_seconds": g["compile_seconds"].median()})
        return df.join(self._design_columns()[["n_dyads", "n_days", "label"]]).reset_index()

    def recovery(self, level: float = 0.95) -> pd.DataFrame:
        """Per design and pair: datasets compared, share told apart correctly (the higher elpd
        picks the variant that simulated the data) with its binomial interval, and per true variant."""
        if self.recovery_fits.empty:
            return pd.DataFrame(columns=["design", "pair", "datasets", "accuracy", "accuracy_lo", "accuracy_hi"])
        rows = []
        for (dkey, pair), g in self.recovery_fits.groupby(["design", "pair"], sort=False):
            k, n = int(g["correct"].sum()), len(g)
            lo, hi = binomial_interval(k, n, level)
            row = {"design": dkey, "pair": pair, "datasets": n, "accuracy": k / n, "accuracy_lo": lo,
                   "accuracy_hi": hi}
            for true, gt in g.groupby("true"):
                row[f"accuracy_if_{true}"] = float(gt["correct"].mean())
            row["fits_with_high_k"] = int((g["k_bad"] > 0).sum())
            rows.append(row)
        return pd.DataFrame(rows).join(self._design_columns()[["n_dyads", "n_days", "label"]], on="design")

    def smallest(self, quantity: str, target: float = 0.8, *, conservative: bool = False) -> pd.Series | None:
        """The design with the fewest person-days whose power for ``quantity`` reaches ``target``.

        Parameters
        ----------
        quantity : str
        target : float
            Target power.
        conservative : bool
            Ask the lower end of the power's binomial interval to reach the target, not the estimate.

        Returns
        -------
        pandas.Series or None
            That design's row of :meth:`table` (ties: fewer couples first); ``None`` if no design
            on the grid reaches the target.
        """
        t = self.table()
        t = t[(t["quantity"] == quantity) & (t["power_lo" if conservative else "power"] >= target)]
        if t.empty:
            return None
        return t.sort_values(["person_days", "n_dyads"]).iloc[0]

    def summary(self, targets: Mapping[str, float] | None = None) -> str:
        """The table in words: per quantity, the power of each design and the smallest reaching each target."""
        lines = [
            f"Design run: variant {self.config.get('variant')!r} ({self.config.get('mode')} mode), truth: "
            f"{Truth(**_truth_kwargs(self.config.get('truth', {}))).describe()}; power = share of replicates whose "
            f"central {self.prob:.0%} interval excludes the null value; fits by NUTS (nutpie, "
            f"{self.config.get('chains')} chains x {self.config.get('draws')} draws after {self.config.get('tune')})."
        ]
        t = self.table()
        for q in self.quantities:
            tq = t[t["quantity"] == q]
            if tq.empty:
                continue
            lines.append(f"{q} (truth {tq['truth_mean'].iloc[0]:.3g}, null {self.null[q]:g}):")
            for _, r in tq.iterrows():
                lines.append(
                    f"  {r['n_dyads']} couples x {r['label']}: power {r['power']:.0%} [{r['power_lo']:.0%}, "
                    f"{r['power_hi']:.0%}] of {r['reps']}, interval width {r['mean_width']:.3g}, contraction "
                    f"{r['contraction']:.2f}"
                )
            target = (targets or {}).get(q)
            if target is not None:
                best = self.smallest(q, target)
                lines.append(
                    f"  smallest design reaching {target:.0%}: "
                    + (f"{best['n_dyads']} couples x {best['label']}" if best is not None else "none on this grid")
                )
        rec = self.recovery()
        for _, r in rec.iterrows():
            lines.append(f"{r['pair']} at {r['n_dyads']} couples x {r['label']}: told apart in {r['accuracy']:.0%} "
                         f"[{r['accuracy_lo']:.0%}, {r['accuracy_hi']:.0%}] of {r['datasets']} datasets (PSIS-LOO)")
        for k, msg in sorted(self.failed.items()):
            lines.append(f"{k} failed: {msg}")
        if self.run is not None:
            lines.append(self.run.describe() + ".")
        return "\n".join(lines)

    def plot_power(self, quantities: Sequence[str] | None = None, *, target: float | None = 0.8,
                   path: str | Path | None = None) -> Any:
        """Power curves: power against couples, one line per other design factor (days, ...),
        with the binomial interval of each point and the target as a dashed line."""
        return self._plot("power", quantities, target, path)

    def plot_width(self, quantities: Sequence[str] | None = None, *, path: str | Path | None = None) -> Any:
        """Mean interval width against couples, one line per other design factor."""
        return self._plot("mean_width", quantities, None, path)

    def _plot(self, what: str, quantities: Sequence[str] | None, target: float | None,
              path: str | Path | None) -> Any:
        import matplotlib.pyplot as plt

        qs = list(quantities or self.quantities)
        t = self.table()
        ncol = min(3, len(qs))
        nrow = -(-len(qs) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False,
                                 constrained_layout=True)
        for ax, q in zip(axes.flat, qs, strict=False):
            _draw_lines(ax, t[t["quantity"] == q], what)
            ax.set_title(f"{q} (null {self.null[q]:g})" if what == "power" else q, fontsize=10)
            ax.set_xlabel("couples")
            ax.set_ylabel(f"power ({self.prob:.0%} interval excludes null)" if what == "power"
                          else f"mean width of the {self.prob:.0%} interval")
            if what == "power":
                ax.set_ylim(-0.03, 1.03)
                if target is not None:
                    ax.axhline(target, ls="--", color="grey", lw=1)
        for ax in list(axes.flat)[len(qs):]:
            ax.set_visible(False)
        reps = int(t["reps"].max()) if len(t) else 0
        fig.suptitle(f"{'Power' if what == 'power' else 'Interval width'} by design ({reps} replicates per design; "
                     f"truth: {Truth(**_truth_kwargs(self.config.get('truth', {}))).describe()})", fontsize=10)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def _draw_lines(ax: Any, tq: pd.DataFrame, what: str) -> None:
    groups = list(tq.groupby("label", sort=False))
    for i, (label, g) in enumerate(groups):
        g = g.sort_values("n_dyads")
        x = g["n_dyads"] * (1 + 0.012 * (i - (len(groups) - 1) / 2))  # dodge: coinciding bars stay visible
        if what == "power":
            err = np.vstack([g["power"] - g["power_lo"], g["power_hi"] - g["power"]])
            ax.errorbar(x, g["power"], yerr=err, marker="o", capsize=3, label=label)
        else:
            ax.plot(x, g[what], marker="o", label=label)
    if len(tq):
        ax.legend(fontsize=7)


def _truth_kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`Truth` arguments from its stored :meth:`Truth.spec`."""
    priors = {k: Prior(p["dist"], {a: float(x) for a, x in p.items() if a != "dist"})
              for k, p in spec.get("priors", {}).items()}
    return {"base": spec.get("base", "reference"), "values": spec.get("values", {}), "priors": priors}

