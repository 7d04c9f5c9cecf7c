"""Shared writer for the notebook generators (``notebooks/make_*.py``).

Each generator lists its cells as ``("md" | "code", source)`` pairs; this writes them with
stable cell ids (regenerating gives no diff) and no outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build(cells: Sequence[tuple[str, str]], prefix: str) -> nbformat.NotebookNode:
    """A notebook of the given cells with ids ``{prefix}-00``, ``{prefix}-01``, ..."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        nb.cells.append(new_markdown_cell(src) if kind == "md" else new_code_cell(src))
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"{prefix}-{k:02d}"
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(nb, path)
    print(f"wrote {path}")
