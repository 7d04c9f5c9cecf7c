"""Every notebook in notebooks/ runs top to bottom at small size, and is committed without outputs.

The notebooks assert their own diagnostics, so a broken fit fails here. Each one compiles its
own model in its own kernel, which dominates the run time (about a minute per notebook).

The kernel is this interpreter (the project's .venv): a private kernelspec pointing at
``sys.executable`` is written to a temporary Jupyter data directory, so no kernel needs to be
registered and a user's own ``python3`` kernel cannot be picked up by mistake.

A notebook that needs the real data declares ``"asem": {"requires": ["shared_data"]}`` in its
metadata and is skipped where that data is absent.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "asem-bayes-test"
CELL_TIMEOUT_S = 1800  # per cell; compiling + sampling one small model takes about a minute


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A Jupyter path holding one kernelspec that runs this interpreter."""
    pytest.importorskip("ipykernel")
    data_dir = tmp_path_factory.mktemp("jupyter")
    spec_dir = data_dir / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "asem-bayes (test)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return data_dir


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_there_is_a_quickstart():
    assert (ROOT / "notebooks" / "quickstart.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        k for k, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; strip them before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state in the metadata; strip it"


# Run by `make test-slow` only (each is several model compiles; the default suite keeps the
# quick start and the real-data notebook, where the data are present).
SLOW_NOTEBOOKS = {"comparing_variants.ipynb", "calibration.ipynb", "what_if.ipynb"}
RUNS = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_NOTEBOOKS else p for p in NOTEBOOKS]


@pytest.mark.parametrize("path", RUNS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_at_small_size(path, kernel_env, monkeypatch, shared_data_available):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    requires = nb.metadata.get("asem", {}).get("requires", [])
    if "shared_data" in requires and not shared_data_available:
        pytest.skip(f"{path.name} needs the real diary data, which is absent here")
    # The kernel inherits this environment: small sizes, a non-interactive matplotlib backend,
    # and JUPYTER_PATH so that the kernelspec above is found first.
    monkeypatch.setenv("ASEM_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(kernel_env), os.environ.get("JUPYTER_PATH", "")]))
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error


@pytest.fixture(scope="module")
def shared_data_available() -> bool:
    # the same location as conftest's shared_data_dir, without skipping the whole test
    return (ROOT.parent / "shared" / "data").exists()
