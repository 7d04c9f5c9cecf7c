"""Load real diary files into a study Dataset: column mapping, validation and a load report.

Real studies name their columns their own way, store the data in one of three layouts, code
missing values as ``.``, blanks or ``999``, and hold only some of the ASEM constructs
(docs/model.md section 12). :func:`load_diary` reads such a file with a :class:`DiaryMapping` (a
dict, or a TOML/YAML/JSON file), validates every mapped value against its declared scale, and
returns the observed part of a study in exactly the layout :func:`asem_bayes.simulate` gives
(built by :func:`asem_bayes.study.from_long`, so loaded and simulated data share one path).

Layouts
-------
``long``
    One row per person-day: ``dyad``, ``person``, ``day`` and one column per construct.
``pairwise``
    One row per person-day with the actor's (``_A``) and the partner's (``_P``) values. The
    mapping names the actor column; an optional ``partner_column`` is checked against the
    partner's own row and fills person-days the partner's own row lacks.
``dyad_wide``
    One row per dyad-day with both partners' columns, e.g. ``M_anx`` and ``W_anx``; the
    mapping's ``roles`` (``["M_", "W_"]`` prefixes or ``["{}_m", "{}_w"]`` templates) say how.

Nothing is dropped silently: rows or dyads set aside (empty rows, dyads with one partner) are
counted in the :class:`LoadReport`, which is attached to the Dataset as ``attrs["load_report"]``.

Modules, in the order a file passes through them
-------------------------------------------------
``mapping``
    :class:`ColumnSpec`, :class:`DiaryMapping` and :func:`read_mapping`.
``reading``
    The file as a table (separator and encoding sniffed) and the parser of its columns.
``validation``
    The declared scales checked with pandera; errors name the file, row, column and value.
``rows``
    The mapping applied to the file's columns; ids and values of every person-day, validated.
``grid``
    Persons as roles 0 and 1 on the full (dyad, person, day) grid; partner columns, shared
    events and values measured once settled there.
``scales``
    Declared transforms, the daily ratings' Likert scale, :func:`rescale_ratings` onto the
    priors' 1..7 scale and :func:`rating_scales`.
``report``
    :class:`LoadReport`.
``assembly``
    :func:`load_diary`: the stages above in order, ending in the study built by
    :func:`asem_bayes.study.from_long`.
``errors``
    :class:`DiaryError`, raised by every stage.
"""

from asem_bayes.data.assembly import load_diary
from asem_bayes.data.errors import DiaryError
from asem_bayes.data.mapping import CONSTRUCTS, LAYOUTS, SCALES, ColumnSpec, DiaryMapping, read_mapping
from asem_bayes.data.report import LoadReport
from asem_bayes.data.scales import rating_scales, rescale_ratings

__all__ = [
    "CONSTRUCTS",
    "LAYOUTS",
    "SCALES",
    "ColumnSpec",
    "DiaryError",
    "DiaryMapping",
    "LoadReport",
    "load_diary",
    "read_mapping",
    "rescale_ratings",
    "rating_scales",
]
