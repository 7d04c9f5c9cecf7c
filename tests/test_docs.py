"""docs/model.md stays true to the code: its parameter table is the registry's."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from asem_bayes.registry import get_variant, list_variants

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "model.md"


@pytest.fixture(scope="module")
def schema_table():
    spec = importlib.util.spec_from_file_location("schema_table", ROOT / "scripts" / "schema_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parameter_table_matches_registry(schema_table):
    block = schema_table.extract(DOC.read_text())
    assert block is not None, "docs/model.md lost its generated parameter-table markers"
    assert block == schema_table.render(), (
        "docs/model.md's parameter table differs from the registry; "
        "run: python scripts/schema_table.py --write docs/model.md"
    )


def test_check_mode_fails_on_a_stale_table(schema_table, tmp_path):
    # Control: the check must be able to fail. Change one prior in a copy of the doc.
    row = "| `k_A` | observation | all | LogNormal(mu=0.4,"
    assert row in DOC.read_text()
    stale = DOC.read_text().replace(row, row.replace("0.4", "0.5"))
    doc = tmp_path / "model.md"
    doc.write_text(stale)
    assert schema_table.main(["--check", str(doc)]) == 1
    assert schema_table.main(["--write", str(doc)]) == 0
    assert schema_table.main(["--check", str(doc)]) == 0


def test_table_lists_every_parameter_of_every_variant(schema_table):
    block = schema_table.render()
    documented = set(re.findall(r"^\| `(\w+)` \|", block, flags=re.M))
    for name in list_variants():
        v = get_variant(name)
        missing = set(v.param_names + v.person_param_names) - documented
        assert not missing, (name, missing)


def test_variant_table_names_every_variant():
    text = DOC.read_text()
    section = text[text.index("## 7. Variants") : text.index("## 8.")]
    for name in list_variants():
        assert f"| `{name}` |" in section, name


def test_api_reference_builds_without_warnings(tmp_path):
    """``make docs``: Sphinx builds the API reference from the docstrings, warnings as errors."""
    import subprocess
    import sys

    pytest.importorskip("sphinx")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
