"""Shared, seeded fixtures. Compiled models are session-scoped: compiling dominates small fits."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# The tests' compiled models go to their own cache (shared by the xdist workers), not the user's.
os.environ.setdefault("ASEM_COMPILE_CACHE", str(Path(tempfile.gettempdir()) / "asem-bayes-test-compiled"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


@pytest.fixture(scope="session")
def small_study():
    """A small seeded 'asem' study (12 dyads x 21 days)."""
    import asem_bayes as ab

    return ab.simulate("asem", n_dyads=12, n_days=21, seed=11)


@pytest.fixture(scope="session")
def compiled_asem(small_study):
    """nutpie-compiled 'asem' model for the small design, shared by every test that fits."""
    from asem_bayes.model import CompiledModel

    return CompiledModel(small_study, "asem")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real diary data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def asem_small_fit(small_study, compiled_asem):
    """One seeded fit of 'asem' to ``small_study`` (2 chains x 300 draws, with PPC), shared."""
    # target_accept 0.95: at this tiny size the hierarchical spreads form funnels (0.8 diverges)
    return compiled_asem.fit(
        small_study, draws=300, tune=300, chains=2, seed=3, posterior_predictive=True, target_accept=0.95
    )
