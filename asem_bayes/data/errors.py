"""The error every stage of reading a diary raises: it names the file, row, column and value."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np

from asem_bayes.inputs import DataError

__all__ = ["DiaryError", "py_scalar", "suggest"]


class DiaryError(DataError):
    """A diary file or mapping does not fit: names the file, row, column and value at fault.

    Subclass of :class:`asem_bayes.inputs.DataError` (itself a ``ValueError``), so the CLI
    prints it as a one-line error.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: str | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.source, self.row, self.column, self.value = source, row, column, value
        where = [str(source)] if source else []
        if row is not None:
            where.append(str(row))
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {value!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


def suggest(name: str, options: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the options closest to a misspelt name, else ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def py_scalar(v: Any) -> Any:
    """A numpy scalar as the plain Python value (as messages and reports show it)."""
    return v.item() if isinstance(v, np.generic) else v
