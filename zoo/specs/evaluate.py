"""The ``[evaluate]`` section: horizons, universes, group counts and choices of the factor tests."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen, validators

#: The report's group counts: 20 on CSI All, 10 on CSI 500 / 1000, 5 on CSI 300.
DEFAULT_GROUPS: dict[str, int] = {"all": 20, "csi300": 5, "csi500": 10, "csi1000": 10}
STYLE_NAMES = ("size", "beta", "momentum", "residual_volatility", "liquidity", "reversal")
EXCLUDABLE = ("limit_up", "limit_down", "suspended", "st")
#: Baseline factors shown beside the models by default: the five built-in single factors.
DEFAULT_BASELINES = ("reversal_5", "reversal_20", "momentum_60", "low_vol_20", "low_turnover_20")


def _merge_groups(value: Any) -> dict[str, int]:
    return {**DEFAULT_GROUPS, **dict(value)}


def _positive_ints(_inst: Any, attr: Any, value: tuple[int, ...]) -> None:
    if not value or any(not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(f"{attr.name} must be a non-empty list of positive integers, got {list(value)}")


def _groups(_inst: Any, attr: Any, value: dict[str, int]) -> None:
    bad = {k: v for k, v in value.items() if not isinstance(v, int) or v < 2}
    if bad:
        raise ValueError(f"{attr.name}: every group count must be an integer >= 2, got {bad}")


def _subset(allowed: tuple[str, ...]):
    def check(_inst: Any, attr: Any, value: tuple[str, ...]) -> None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ValueError(f"{attr.name}: unknown {bad}; allowed: {list(allowed)}")

    return check


def _factor_names(_inst: Any, attr: Any, value: tuple[str, ...]) -> None:
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"{attr.name}: expected factor names (strings), got {bad}")
    twice = sorted({v for v in value if value.count(v) > 1})
    if twice:
        raise ValueError(f"{attr.name}: {twice} listed more than once")


@frozen
class EvalSpec:
    """Settings of the report's factor tests (IC, quantile groups, styles, correlations)."""

    #: Forward-return horizons in trading days (close t+1 -> close t+1+h).
    horizons: tuple[int, ...] = field(default=(10, 20), converter=tuple, validator=_positive_ints)
    #: Universes the IC and group tests run in (names of the cube's ``universe`` coordinate).
    universes: tuple[str, ...] = field(
        default=("all", "csi300", "csi500", "csi1000"), converter=tuple, validator=validators.min_len(1)
    )
    #: Quantile groups per universe, merged over the report's defaults; others get ``default_groups``.
    groups: dict[str, int] = field(
        factory=lambda: dict(DEFAULT_GROUPS), converter=_merge_groups, validator=_groups
    )
    default_groups: int = field(default=10, validator=validators.ge(2))
    #: "raw" forward returns (the report's test, default) or the cube's size/industry "neutral" label.
    label: str = field(default="raw", validator=validators.in_(("raw", "neutral")))
    #: A date with fewer usable stocks than this has no IC / correlation.
    min_stocks: int = field(default=10, validator=validators.ge(3))
    #: Stocks flagged so at the trade are not bought by the group test.
    exclude: tuple[str, ...] = field(
        default=("limit_up", "limit_down", "suspended"), converter=tuple, validator=_subset(EXCLUDABLE)
    )
    #: Styles correlated with the scores (Fig. 6); exposures come from ``evaluation.styles``.
    styles: tuple[str, ...] = field(default=STYLE_NAMES, converter=tuple, validator=_subset(STYLE_NAMES))
    #: Correlation of scores with styles and with each other: "spearman" (rank) or "pearson".
    corr_method: str = field(default="spearman", validator=validators.in_(("spearman", "pearson")))
    #: Window (trading days) of the rolling mean drawn over the daily IC series.
    ic_rolling: int = field(default=20, validator=validators.ge(1))
    #: Universe and horizon whose numbers head the summary (and the TOP-group line).
    headline_universe: str = "all"
    headline_horizon: int = field(default=10, validator=validators.ge(1))
    #: Registered ``factor`` components shown beside the models in every table, on exactly the models'
    #: dates, stocks and universes (checked against the registry when a spec is loaded; [] for none).
    #: Evaluation only: left out of the spec hash, so changing it never forces retraining.
    baselines: tuple[str, ...] = field(default=DEFAULT_BASELINES, converter=tuple, validator=_factor_names)

    def n_groups(self, universe: str) -> int:
        """Group count of ``universe``."""
        return int(self.groups.get(universe, self.default_groups))
