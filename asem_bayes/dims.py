"""Dimension and variable names, defined once and used everywhere.

The simulator's output, the PyMC model's coords and the posterior all use these names, so a
``dyad`` in one place is a ``dyad`` in every other.
"""

from __future__ import annotations

DYAD = "dyad"
PERSON = "person"  # role within the dyad: 0 or 1
DAY = "day"
WAVE = "wave"
WEEK = "week"
# Covariates of person-level parameters (docs/model.md, "Covariate effects"): a coefficient of person
# parameter ``x`` has dims ``(covariate_x,)``, labelled by the covariates' names.
COVARIATE = "covariate"

# Correlated person-level effects (docs/model.md section 18): the Cholesky factor of their
# correlation has dims (person_param, person_param_bis), labelled by the parameters' names.
PERSON_PARAM = "person_param"
PERSON_PARAM_BIS = "person_param_bis"

PERSON_DIMS: tuple[str, str] = (DYAD, PERSON)
PERSON_DAY_DIMS: tuple[str, str, str] = (DYAD, PERSON, DAY)
DYAD_DAY_DIMS: tuple[str, str] = (DYAD, DAY)
PERSON_WAVE_DIMS: tuple[str, str, str] = (DYAD, PERSON, WAVE)

# Events of docs/model.md sections 2 and 5. ``threat`` and ``dependence`` are shared by both partners
# (dyad-day); the others are received by a person (person-day).
DYAD_EVENTS: tuple[str, ...] = ("threat", "dependence")
PERSON_EVENTS: tuple[str, ...] = ("safe", "soft", "confidence")
EVENTS: tuple[str, ...] = ("threat", "safe", "soft", "confidence", "dependence")

DAILY_RATINGS: tuple[str, ...] = ("state_anxiety", "state_avoidance")
TRAITS: tuple[str, ...] = ("trait_anxiety", "trait_avoidance")
RATINGS: tuple[str, ...] = DAILY_RATINGS + TRAITS

LATENT: tuple[str, ...] = ("self_model", "others_model", "fatigue")

# Columns of the long person-day table (docs/model.md section 12).
LONG_INDEX: tuple[str, str, str] = (DYAD, PERSON, DAY)
LONG_COLUMNS: tuple[str, ...] = LONG_INDEX + EVENTS + DAILY_RATINGS + TRAITS

# Roles of the variables in a study Dataset (stored in each variable's ``attrs["role"]``).
ROLE_EVENT = "event"
ROLE_RATING = "rating"
ROLE_TRAIT = "trait"
ROLE_LATENT = "latent"
ROLE_PARAMETER = "parameter"
ROLE_COVARIATE = "covariate"  # a person or couple covariate: dims (dyad, person) or (dyad,)
