"""Parameters shared by every variant: initial states, observation model and event model."""

from __future__ import annotations

from asem_bayes.schema import HN, LN, B, N, Param, PersonParam

INF = float("inf")

INITIAL: tuple[Param, ...] = (
    Param(
        "s0_mu", N(0.3, 0.4), (-INF, INF), 0.3, "population mean of the initial model of self (atanh scale)", "initial"
    ),
    Param("s0_sd", HN(0.4), (0, INF), 0.35, "between-person spread of the initial model of self", "initial"),
    Param(
        "o0_mu",
        N(0.3, 0.4),
        (-INF, INF),
        0.3,
        "population mean of the initial model of others (atanh scale)",
        "initial",
    ),
    Param("o0_sd", HN(0.4), (0, INF), 0.35, "between-person spread of the initial model of others", "initial"),
)
INITIAL_PERSON: tuple[PersonParam, ...] = (
    PersonParam(
        "s0", "s0_mu", "s0_sd", "a person's model of self on day 0 (higher = more secure)", "initial", link="tanh"
    ),
    PersonParam(
        "o0", "o0_mu", "o0_sd", "a person's model of others on day 0 (higher = more secure)", "initial", link="tanh"
    ),
)

OBSERVATION: tuple[Param, ...] = (
    Param(
        "c_A_mu",
        N(4.0, 1.0),
        (-INF, INF),
        4.0,
        "population mean of daily state anxiety at the median initial self-model",
        "observation",
    ),
    Param("c_A_sd", HN(0.5), (0, INF), 0.3, "between-person spread of the state-anxiety intercept", "observation"),
    Param(
        "c_V_mu",
        N(4.0, 1.0),
        (-INF, INF),
        3.8,
        "population mean of daily state avoidance at the median initial model of others",
        "observation",
    ),
    Param("c_V_sd", HN(0.5), (0, INF), 0.3, "between-person spread of the state-avoidance intercept", "observation"),
    Param(
        "k_A",
        LN(0.4, 0.3),
        (0, INF),
        1.5,
        "how strongly a secure model of self lowers daily state anxiety",
        "observation",
    ),
    Param(
        "k_V",
        LN(0.4, 0.3),
        (0, INF),
        1.5,
        "how strongly a secure model of others lowers daily state avoidance",
        "observation",
    ),
    Param(
        "tau_A",
        N(0.8, 0.5),
        (-INF, INF),
        0.8,
        "same-day rise in state anxiety on an insecurity-triggering day",
        "observation",
    ),
    Param(
        "tau_V",
        N(0.6, 0.5),
        (-INF, INF),
        0.6,
        "same-day rise in state avoidance on an insecurity-triggering day",
        "observation",
    ),
    Param(
        "b_safe",
        N(0.5, 0.5),
        (-INF, INF),
        0.5,
        "same-day relief of state anxiety by the partner's safe strategy",
        "observation",
    ),
    Param(
        "b_soft",
        N(0.5, 0.5),
        (-INF, INF),
        0.4,
        "same-day relief of state avoidance by the partner's soft strategy",
        "observation",
    ),
    Param(
        "b_backfire",
        N(0.3, 0.5),
        (-INF, INF),
        0.3,
        "rise in state avoidance when safe (emotional) strategies meet an insecure model of others",
        "observation",
    ),
    Param(
        "sigma_A",
        LN(-0.4, 0.5),  # median 0.67; a single daily rating is never near noise-free (see docs/model.md)
        (0, INF),
        0.7,
        "day-to-day noise of state anxiety (logistic scale for Likert items)",
        "observation",
    ),
    Param(
        "sigma_V",
        LN(-0.4, 0.5),  # median 0.67; a single daily rating is never near noise-free (see docs/model.md)
        (0, INF),
        0.7,
        "day-to-day noise of state avoidance (logistic scale for Likert items)",
        "observation",
    ),
    Param(
        "m_A",
        N(3.5, 1.0),
        (-INF, INF),
        3.5,
        "trait anxiety questionnaire score at the median initial model of self",
        "observation",
    ),
    Param("l_A", LN(0.4, 0.3), (0, INF), 1.5, "how strongly the model of self shows in trait anxiety", "observation"),
    Param("sigma_TA", HN(0.5), (0, INF), 0.25, "measurement noise of the trait anxiety questionnaire", "observation"),
    Param(
        "m_V",
        N(3.5, 1.0),
        (-INF, INF),
        3.3,
        "trait avoidance questionnaire score at the median initial model of others",
        "observation",
    ),
    Param(
        "l_V", LN(0.4, 0.3), (0, INF), 1.5, "how strongly the model of others shows in trait avoidance", "observation"
    ),
    Param("sigma_TV", HN(0.5), (0, INF), 0.25, "measurement noise of the trait avoidance questionnaire", "observation"),
)
OBSERVATION_PERSON: tuple[PersonParam, ...] = (
    PersonParam("c_A", "c_A_mu", "c_A_sd", "a person's state-anxiety intercept", "observation"),
    PersonParam("c_V", "c_V_mu", "c_V_sd", "a person's state-avoidance intercept", "observation"),
)

EVENTS: tuple[Param, ...] = (
    Param(
        "a0",
        N(-1.2, 0.5),
        (-INF, INF),
        -1.2,
        "log-odds of an insecurity-triggering situation for a secure couple",
        "events",
    ),
    Param("a1", N(0.8, 0.5), (-INF, INF), 0.8, "how much the partners' combined insecurity raises threats", "events"),
    Param("b0", N(0.3, 0.5), (-INF, INF), 0.3, "log-odds that a partner uses a safe strategy in a threat", "events"),
    Param("b1", N(0.8, 0.5), (-INF, INF), 0.8, "secure partners (self) buffer safely more often", "events"),
    Param("b2", N(0.5, 0.5), (-INF, INF), 0.5, "secure partners (others) buffer safely more often", "events"),
    Param("c0", N(0.0, 0.5), (-INF, INF), 0.0, "log-odds that a partner uses a soft strategy in a threat", "events"),
    Param("c1", N(0.5, 0.5), (-INF, INF), 0.5, "secure partners (self) buffer softly more often", "events"),
    Param("c2", N(0.8, 0.5), (-INF, INF), 0.8, "secure partners (others) buffer softly more often", "events"),
    Param("x0", N(-1.2, 0.5), (-INF, INF), -1.2, "log-odds of a confidence-building situation", "events"),
    Param(
        "x1", N(0.8, 0.5), (-INF, INF), 0.8, "partners who trust others build the person's confidence more", "events"
    ),
    Param(
        "x2",
        N(0.5, 0.5),
        (-INF, INF),
        0.5,
        "partners secure in themselves build the person's confidence more",
        "events",
    ),
    Param(
        "y0",
        N(-1.0, 0.5),
        (-INF, INF),
        -1.0,
        "log-odds of a positive-dependence situation (joint activity, support)",
        "events",
    ),
    Param(
        "y1",
        N(0.8, 0.5),
        (-INF, INF),
        0.8,
        "avoidant couples forego joint activities (secure models of others raise them)",
        "events",
    ),
)
FATIGUE: tuple[Param, ...] = (
    Param(
        "phi",
        LN(-1.2, 0.5),
        (0, INF),
        0.3,
        "how much accumulated buffering load lowers a partner's buffering",
        "events",
    ),
    Param("zeta", B(2.0, 4.0), (0, 1), 0.3, "daily recovery from buffering fatigue", "events"),
)

# The latent update is finite for any learning rate and bias, so the schema's support is the
# priors' support: every posterior draw is a valid simulator input.
_THETA_BOUNDS = (-INF, INF)
_PSI_BOUNDS = (-INF, INF)


# Reference log learning rates per unit of evidence: exp(-5.0) ~ 0.007 for positive and
# exp(-3.6) ~ 0.027 for negative evidence. At the reference event model the average person's
# trait scores then move about 0.2 SD in 8 weeks (docs/model.md, section 7: 0.1-0.3 SD); threats
# are rarer than security-triggering days, so each weighs more.
THETA_POS, THETA_NEG = -5.0, -3.6


def theta(name: str, what: str, default: float) -> tuple[Param, Param, PersonParam]:
    """Population mean, spread and person-level log learning rate for one evidence channel.

    The prior of the population mean is centred on the reference value ``default``.
    """
    return (
        Param(
            f"{name}_mu", N(default, 0.7), _THETA_BOUNDS, default, f"population log learning rate: {what}", "dynamics"
        ),
        Param(
            f"{name}_sd", HN(0.3), (0, INF), 0.2, f"between-person spread of the log learning rate: {what}", "dynamics"
        ),
        PersonParam(name, f"{name}_mu", f"{name}_sd", f"a person's log learning rate: {what}", "dynamics"),
    )


def psi(name: str, what: str, default: float) -> Param:
    """A population assimilation bias (state dependence of a learning rate)."""
    return Param(name, N(0.0, 0.8), _PSI_BOUNDS, default, what, "dynamics")


BUFFER: tuple[Param, ...] = (
    Param(
        "e_safe",
        B(4.0, 2.0),
        (0, 1),
        0.7,
        "share of a threat's erosion of the self-model removed by safe buffering",
        "dynamics",
    ),
    Param(
        "e_soft",
        B(4.0, 2.0),
        (0, 1),
        0.7,
        "share of a threat's erosion of the model of others removed by soft buffering",
        "dynamics",
    ),
)

RIPPLE = Param(
    "rho",
    B(2.0, 6.0),
    (0, 1),
    0.25,
    "ripple: share of a targeted gain that reaches the other working model",
    "dynamics",
)


def bias_rates(xp, s, o, p):
    """Orientation-specific assimilation biases: ``log eta = theta + psi * state``."""
    return (
        p["theta_pos_s"] + p["psi_pos_s"] * s,
        p["theta_neg_s"] + p["psi_neg_s"] * s,
        p["theta_pos_o"] + p["psi_pos_o"] * o,
        p["theta_neg_o"] + p["psi_neg_o"] * o,
    )


def targeted_evidence(xp, ev, p):
    """Targeted pathways: confidence -> self, dependence -> others, ripple ``rho``; buffering
    removes part of a threat's erosion."""
    pos_s = ev.confidence + p["rho"] * ev.dependence
    pos_o = ev.dependence + p["rho"] * ev.confidence
    neg_s = ev.threat * (1.0 - p["e_safe"] * ev.safe)
    neg_o = ev.threat * (1.0 - p["e_soft"] * ev.soft)
    return pos_s, neg_s, pos_o, neg_o


ASEM_DYNAMICS: tuple = (
    *theta("theta_pos_s", "model of self after positive evidence", THETA_POS),
    *theta("theta_neg_s", "model of self after negative evidence", THETA_NEG),
    *theta("theta_pos_o", "model of others after positive evidence", THETA_POS),
    *theta("theta_neg_o", "model of others after negative evidence", THETA_NEG),
    psi("psi_pos_s", "assimilation bias: > 0 means an insecure model of self takes in less praise", 1.0),
    psi("psi_neg_s", "assimilation bias: < 0 means an insecure model of self takes in more blame", -0.8),
    psi(
        "psi_pos_o",
        "assimilation bias: > 0 means an insecure model of others discounts positive interpersonal evidence",
        1.0,
    ),
    psi("psi_neg_o", "assimilation bias: < 0 means an insecure model of others takes in more negative evidence", -0.5),
    RIPPLE,
    *BUFFER,
)


def split(items: tuple) -> tuple[tuple[Param, ...], tuple[PersonParam, ...]]:
    """Split a mixed tuple into population and person-level parameters."""
    return (
        tuple(i for i in items if isinstance(i, Param)),
        tuple(i for i in items if isinstance(i, PersonParam)),
    )


def assemble(*groups: tuple) -> tuple[tuple[Param, ...], tuple[PersonParam, ...]]:
    """Population and person parameters of a variant from its groups (shared groups included)."""
    return split(
        tuple(x for g in (INITIAL, INITIAL_PERSON, *groups, OBSERVATION, OBSERVATION_PERSON, EVENTS) for x in g)
    )
