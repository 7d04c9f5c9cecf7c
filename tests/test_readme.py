"""The README's tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs_as_written(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python tour"
    monkeypatch.chdir(tmp_path)  # it writes fit.nc
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the point of the test
    assert (tmp_path / "fit.nc").exists()
    assert namespace["replicated"]["state_anxiety"].sizes["draw"] == 300
