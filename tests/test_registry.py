"""The variant registry and each variant's parameter schema."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

from asem_bayes import dynamics
from asem_bayes.registry import DuplicateVariantError, UnknownVariantError, get_variant, list_variants, register
from asem_bayes.schema import Param, PersonParam, Prior, SchemaError, Variant

EXPECTED = ["stable", "uniform", "asem", "buffer_enhances", "asem_fatigue"]
VARIANTS = [get_variant(n) for n in EXPECTED]
GROUPS = {"initial", "dynamics", "observation", "events"}


def test_lists_the_five_variants():
    assert list_variants() == EXPECTED


def test_get_variant_passes_a_variant_through():
    v = get_variant("asem")
    assert get_variant(v) is v


def test_unknown_variant_raises_a_clear_error():
    with pytest.raises(UnknownVariantError) as info:
        get_variant("asme")
    msg = str(info.value)
    assert "'asme'" in msg
    for name in EXPECTED:  # the message lists what is registered
        assert name in msg
    assert isinstance(info.value, KeyError)  # callers catching KeyError keep working


def test_duplicate_variant_is_refused():
    with pytest.raises(DuplicateVariantError, match="'asem' is already registered"):
        register(get_variant("asem"))
    # replace=True is the explicit way to swap one in (same object: registry unchanged)
    assert register(get_variant("asem"), replace=True) is get_variant("asem")
    assert list_variants() == EXPECTED


def test_register_refuses_non_variants():
    with pytest.raises(TypeError, match="expected a Variant"):
        register("asem")  # type: ignore[arg-type]


def test_a_variant_with_duplicate_or_dangling_parameters_is_refused():
    p = Param("a", Prior("Normal", {"mu": 0.0, "sigma": 1.0}), (-5, 5), 0.0, "a", "events")
    with pytest.raises(SchemaError, match="twice"):
        Variant("bad", "bad", (p, p), (), None, None)
    pp = PersonParam("z", "z_mu", "z_sd", "z", "dynamics")
    with pytest.raises(SchemaError, match="unknown 'z_mu'"):
        Variant("bad", "bad", (p,), (pp,), None, None)
    with pytest.raises(SchemaError, match="outside bounds"):
        Param("b", Prior("Normal", {"mu": 0.0, "sigma": 1.0}), (0, 1), 2.0, "b", "events")
    with pytest.raises(SchemaError, match="unknown prior"):
        Prior("Cauchy", {"alpha": 0.0, "beta": 1.0})
    with pytest.raises(SchemaError, match="needs arguments"):
        Prior("Normal", {"mu": 0.0})


@pytest.mark.parametrize("v", VARIANTS, ids=EXPECTED)
def test_schema_is_consistent(v: Variant):
    names = v.param_names + v.person_param_names
    assert len(names) == len(set(names))
    pop = {p.name: p for p in v.params}
    for pp in v.person_params:
        assert pp.mu in pop and pp.sd in pop, pp.name
        assert pop[pp.sd].bounds[0] >= 0, f"{pp.sd} is a spread and must be non-negative"
        assert pp.link in {"identity", "tanh"}
        assert pp.meaning.strip() and pp.group in GROUPS
    for p in v.params:
        lo, hi = p.bounds
        assert lo < p.default < hi, p.name
        assert p.meaning.strip(), p.name
        assert p.group in GROUPS, p.name
    # Every variant has initial states, ratings and the event model.
    for name in ("s0", "o0", "c_A", "c_V"):
        assert name in v.person_param_names
    for name in ("a0", "a1", "b0", "x0", "y0", "sigma_A", "m_A", "l_V"):
        assert name in v.param_names
    assert v.defaults().keys() == pop.keys()
    v.check(v.defaults())  # the reference values pass the simulator's own check


@pytest.mark.parametrize("v", VARIANTS, ids=EXPECTED)
def test_prior_draws_fall_mostly_inside_bounds(v: Variant):
    rng = np.random.default_rng(1)
    for p in v.params:
        x = p.prior.draw(rng, 4000)
        lo, hi = p.bounds
        inside = np.mean((x > lo) & (x < hi))
        # The widest tails are the assimilation biases, N(0, 0.8) in (-2, 2): 1.2% outside.
        # 95% leaves room for that and flags a prior placed on the wrong scale.
        assert inside > 0.95, f"{v.name}.{p.name}: only {inside:.1%} of prior draws inside {p.bounds}"


@pytest.mark.parametrize(
    "prior, dist",
    [
        (Prior("Normal", {"mu": -3.5, "sigma": 0.6}), stats.norm(-3.5, 0.6)),
        (Prior("HalfNormal", {"sigma": 0.4}), stats.halfnorm(scale=0.4)),
        (Prior("LogNormal", {"mu": 0.4, "sigma": 0.3}), stats.lognorm(0.3, scale=np.exp(0.4))),
        (Prior("Beta", {"alpha": 2.0, "beta": 6.0}), stats.beta(2.0, 6.0)),
    ],
)
def test_prior_draws_use_pymc_parameterisation(prior: Prior, dist):
    """numpy draws (simulator, SBC) follow the same distribution as the PyMC prior."""
    x = prior.draw(np.random.default_rng(2), 20000)
    assert stats.kstest(x, dist.cdf).pvalue > 0.001


@pytest.mark.parametrize("v", [v for v in VARIANTS if v.changes], ids=[v.name for v in VARIANTS if v.changes])
def test_dynamics_only_use_declared_parameters(v: Variant):
    """The variant's evidence and learning-rate functions find every name they read in the schema."""
    rng = np.random.default_rng(3)
    p = dict(v.defaults())
    p.update({name: rng.normal(size=(4, 2)) * 0.1 for name in v.person_param_names})
    s = o = np.zeros((4, 2))
    ev = dynamics.Events(*(np.ones((4, 2)) for _ in range(5)))
    s1, o1 = dynamics.step(np, v, s, o, ev, p)
    assert s1.shape == o1.shape == (4, 2)
    dynamics.event_probs(np, s, o, np.zeros((4, 2)), p, v.fatigue)
    dynamics.rating_means(np, s, o, ev, p)
    dynamics.trait_means(np, s, o, p)


def test_variant_flags():
    assert not get_variant("stable").changes
    assert all(get_variant(n).changes for n in EXPECTED if n != "stable")
    assert [n for n in EXPECTED if get_variant(n).fatigue] == ["asem_fatigue"]
    assert "kappa" in get_variant("buffer_enhances").param_names
    assert "kappa" not in get_variant("asem").param_names


HAMMER = textwrap.dedent(
    """
    import json, sys, threading
    from asem_bayes.registry import get_variant, list_variants

    n = int(sys.argv[1])
    barrier = threading.Barrier(n)
    errors, lists = [], []

    def work(i):
        barrier.wait()  # every thread makes its first lookup at the same moment
        try:
            (get_variant if i % 2 else list_variants)(*(["asem"] if i % 2 else []))
            lists.append(list_variants())
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"errors": errors, "lists": [list(x) for x in {tuple(x) for x in lists}]}))
    """
)


def test_first_lookups_from_many_threads_at_once_all_succeed():
    """A fresh process, 32 threads released together by a barrier, each making the process's
    first registry lookup: none may see a half-loaded (empty) registry. Before the registry
    loaded under a lock, 31 of 32 threads failed with 'registered variants: ' (empty) in every
    such process."""
    for _ in range(3):  # each process starts with an unloaded registry
        out = subprocess.run([sys.executable, "-c", HAMMER, "32"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert res["errors"] == []
        assert res["lists"] == [EXPECTED]  # every thread saw the whole registry, in order


def test_a_failed_load_leaves_nothing_half_registered():
    """An import error while loading leaves the registry unloaded, so the next lookup retries."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import asem_bayes.models as models
                from asem_bayes import registry
                models.VARIANT_MODULES = ("stable", "no_such_variant")
                try:
                    registry.list_variants()
                except ModuleNotFoundError:
                    pass
                assert registry._REGISTRY == {} and not registry._LOADED
                models.VARIANT_MODULES = ("stable", "asem")
                print(registry.list_variants())
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['stable', 'asem']"
