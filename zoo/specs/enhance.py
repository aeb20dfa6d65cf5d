"""The ``[enhance]`` section: constraints and costs of the index-enhanced portfolio."""

from __future__ import annotations

import math

from attrs import field, frozen, validators

#: Constraints the relaxation steps may loosen (long-only, fully invested and tradability never are).
RELAXABLE = ("turnover", "style", "industry", "stock_band", "constituent")

#: Open solvers cvxpy can use for this LP that install from PyPI (HIGHS comes with cvxpy itself).
SOLVERS = ("CLARABEL", "HIGHS", "ECOS", "OSQP", "SCS")

#: The default relaxation ladder: each step sets one constraint's bound to (its spec value x factor);
#: steps are cumulative, tried in order only when the week is infeasible, and every step taken is logged.
DEFAULT_RELAX_ORDER = (
    "turnover*2",
    "style*2",
    "industry*2",
    "turnover*inf",
    "style*inf",
    "industry*inf",
    "stock_band*inf",
    "constituent*0",
)


def parse_relax_step(step: str) -> tuple[str, float]:
    """Split a relaxation step ``"name*factor"`` into (constraint name, factor); ValueError if malformed."""
    name, sep, factor = step.partition("*")
    if not sep or name not in RELAXABLE:
        raise ValueError(f"relaxation step {step!r} must look like NAME*FACTOR with NAME one of {RELAXABLE}")
    try:
        value = float(factor)
    except ValueError:
        raise ValueError(f"relaxation step {step!r}: factor {factor!r} is not a number or 'inf'") from None
    if math.isnan(value) or value < 0:
        raise ValueError(f"relaxation step {step!r}: factor must be >= 0")
    if name == "constituent" and value > 1:
        raise ValueError(f"relaxation step {step!r}: the constituent floor can only be lowered (factor <= 1)")
    if name != "constituent" and value < 1:
        raise ValueError(f"relaxation step {step!r}: a band can only be widened (factor >= 1)")
    return name, value


def _check_relax_order(_inst: object, _attr: object, value: tuple[str, ...]) -> None:
    for step in value:
        try:
            parse_relax_step(step)
        except ValueError as exc:
            raise ValueError(f"relax_order: {exc}") from None


def _fraction(_inst: object, attr: object, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must lie in [0, 1], got {value!r}")  # type: ignore[attr-defined]


@frozen
class EnhanceSpec:
    """Settings of the index-enhancement back-test (report Fig. 23-26); every bound is an option."""

    indexes: tuple[str, ...] = field(default=("csi300", "csi500", "csi1000"), converter=tuple)
    #: Weight held in the index's constituents is at least this (report: > 80 %).
    min_constituent_weight: float = field(default=0.80, validator=_fraction)
    #: Each stock's weight lies within benchmark weight +/- this (report: 0.8 %).
    stock_band: float = field(default=0.008, validator=validators.ge(0))
    #: Portfolio minus benchmark style exposure, each style, within +/- this (report: 0.3).
    style_band: float = field(default=0.3, validator=validators.ge(0))
    #: Style names to constrain; empty = every style the exposures provide.
    styles: tuple[str, ...] = field(default=(), converter=tuple)
    #: Portfolio minus benchmark weight of each industry within +/- this (report: 0.02).
    industry_band: float = field(default=0.02, validator=validators.ge(0))
    #: Two-sided turnover sum |w_new - w_drifted| per rebalance at most this (report: 30 %).
    max_turnover: float = field(default=0.30, validator=validators.ge(0))
    #: Cost per unit of value traded, buys and sells alike: "双边千2.5" is 0.25 % for buy + sell
    #: together (the report's 双边 is both sides, as in "换手约束双边 30%"), so 0.125 % per side.
    cost_rate: float = field(default=0.00125, validator=[validators.ge(0), validators.lt(1)])
    #: ST stocks: "no_buy" = may be held or sold but never bought; "exit" = sold to zero where tradable.
    st_policy: str = field(default="no_buy", validator=validators.in_(("no_buy", "exit")))
    #: Non-constituents offered to the optimiser: the top-scored buyable ones, at most this many.
    max_outside: int = field(default=800, validator=validators.ge(0))
    #: Penalty per unit of |active weight| (in z-scored score units): breaks ties toward the benchmark.
    active_penalty: float = field(default=1e-3, validator=validators.ge(0))
    #: HiGHS (MIT, installed with cvxpy) was the fastest exact solver in bench/bench_enhance.py.
    solver: str = field(default="HIGHS", validator=validators.in_(SOLVERS))
    #: Tried in turn when the main solver fails numerically (not when the week is infeasible).
    fallback_solvers: tuple[str, ...] = field(
        default=("CLARABEL",), converter=tuple, validator=validators.deep_iterable(validators.in_(SOLVERS))
    )
    relax_order: tuple[str, ...] = field(
        default=DEFAULT_RELAX_ORDER, converter=tuple, validator=_check_relax_order
    )
    #: Trading days per year used to annualise returns and tracking error.
    days_per_year: int = field(default=252, validator=validators.ge(1))
