"""Built-in baseline factors (slot ``factor``): one-line scores from the cube, data up to t only.

Each builder returns an object whose ``__call__(cube) -> xr.DataArray (date, symbol) float32`` is
vectorised over dates and stocks (numpy / pandas, no torch). The rules (docs/evaluation.md, "Baseline
factors"):

* A bar is a close > 0; a stock without a bar at t has no factor value at t (it cannot trade).
* Real cubes hold unadjusted prices: ``breach`` at t means the series is broken between the previous
  traded close and the close of t, so no return that spans it is ever used.
* Price change over n days (reversal, momentum): ``log(C_t / C*_{t-n})``, where ``C*`` is the last
  traded close at or before that day (carried over suspensions, so the change is what a holder saw).
  NaN if there is no traded close at or before t-n, or a ``breach`` in days t-n+1 .. t.
* Daily log returns (low volatility): ``log(C_t / C_{t-1})`` of consecutive trading days of the cube,
  NaN when either bar is missing (a return across a suspension spans several days) or on a breach.
* Daily turnover (low turnover): the cube has no share count, so the proxy is traded value over market
  cap, ``vwap_t * volume_t / mcap_t`` (close when vwap is missing), on days with a bar only: a
  suspension is not a low-turnover day. On real cubes ``mcap`` is close x 2018 float shares, so the
  ratio is volume / float shares.
* A windowed statistic needs at least ``min_obs_frac`` of its window as finite values, else NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np
from attrs import field, frozen, validators
from zoo.datasets.calc import bar_panel, carried, flag_panel, min_observations, one_day_log_returns, traded

from zoo import hookimpl
from zoo.errors import DataError, RegistryError
from zoo.interfaces import FACTOR
from zoo.registry import Component

if TYPE_CHECKING:  # pandas and xarray load on first use: the registry stays importable without them
    import xarray as xr

# --------------------------------------------------------------------------- cube readers


def _bar_field(cube: xr.Dataset, name: str, factor: str) -> np.ndarray:
    """One bar field as float64 ``(date, symbol)``; a clear DataError when the cube lacks it."""
    if "bars" not in cube.variables:
        raise DataError(
            f"factor {factor!r} needs the cube variable 'bars'; the cube has {sorted(cube.data_vars)}"
        )
    fields = [str(f) for f in cube["bars"]["field"].values]
    if name not in fields:
        raise DataError(f"factor {factor!r} needs the bar field {name!r}; the cube's fields are {fields}")
    return bar_panel(cube, name)


def _close(cube: xr.Dataset, factor: str) -> np.ndarray:
    return traded(_bar_field(cube, "close", factor))  # zero or negative prices are missing bars, not prices


def _lag(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` moved down ``n`` rows (row t holds row t-n), NaN-padded at the top."""
    out = np.full(values.shape, np.nan)
    if n < values.shape[0]:
        out[n:] = values[: values.shape[0] - n]
    return out


def _breach_between(breach: np.ndarray, first_lag: int, last_lag: int) -> np.ndarray:
    """True where a breach falls in days t-first_lag .. t-last_lag (inclusive, first_lag >= last_lag)."""
    csum = np.zeros((breach.shape[0] + 1, breach.shape[1]), dtype=np.int64)
    np.cumsum(breach, axis=0, out=csum[1:])
    t = np.arange(breach.shape[0])
    hi = np.clip(t - last_lag + 1, 0, None)
    lo = np.clip(t - first_lag, 0, None)
    return (csum[hi] - csum[lo]) > 0


def _as_score(values: np.ndarray, cube: xr.Dataset, name: str) -> xr.DataArray:
    import xarray as xr

    return xr.DataArray(
        values.astype(np.float32),
        dims=("date", "symbol"),
        coords={"date": cube["date"].values, "symbol": cube["symbol"].values},
        name=name,
    )


def _check_window(_inst: object, attr: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{attr.name} must be a positive number of trading days, got {value!r}")


def _check_frac(_inst: object, attr: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{attr.name} must be in (0, 1], got {value!r}")


# --------------------------------------------------------------------------- factors


@attrs.frozen
class PriceChange:
    """``sign * log(C*_{t-skip} / C*_{t-window})``; NaN without a bar at t or across a breach."""

    name: str
    window: int
    skip: int = 0
    sign: float = 1.0

    def __call__(self, cube: xr.Dataset) -> xr.DataArray:
        """The factor on the cube's dates and symbols."""
        close = _close(cube, self.name)
        last = carried(close)
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.log(_lag(last, self.skip) / _lag(last, self.window))
        broken = _breach_between(flag_panel(cube, "breach"), self.window - 1, self.skip)
        out = np.where(np.isfinite(close) & ~broken, self.sign * change, np.nan)
        return _as_score(out, cube, self.name)


@attrs.frozen
class LowVolatility:
    """Minus the sample std of daily log returns over the last ``window`` days."""

    name: str
    window: int
    min_obs_frac: float

    def __call__(self, cube: xr.Dataset) -> xr.DataArray:
        """The factor on the cube's dates and symbols."""
        import pandas as pd

        ret = pd.DataFrame(one_day_log_returns(_close(cube, self.name), flag_panel(cube, "breach")))
        std = ret.rolling(
            self.window, min_periods=min_observations(self.window, self.min_obs_frac, floor=2)
        ).std()
        has_bar = np.isfinite(_close(cube, self.name))
        return _as_score(np.where(has_bar, -std.to_numpy(), np.nan), cube, self.name)


@attrs.frozen
class LowTurnover:
    """Minus the mean daily turnover (traded value / mcap) over the traded days of the last ``window``."""

    name: str
    window: int
    min_obs_frac: float

    def __call__(self, cube: xr.Dataset) -> xr.DataArray:
        """The factor on the cube's dates and symbols."""
        if "mcap" not in cube.variables:
            raise DataError(
                f"factor {self.name!r} needs the cube variable 'mcap' (turnover = traded value / mcap); "
                f"the cube has {sorted(cube.data_vars)}"
            )
        close = _close(cube, self.name)
        vwap = _bar_field(cube, "vwap", self.name)
        price = np.where(np.isfinite(vwap) & (vwap > 0), vwap, close)
        volume = _bar_field(cube, "volume", self.name)
        mcap = cube["mcap"].transpose("date", "symbol").values.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            daily = np.where(np.isfinite(close) & (mcap > 0) & (volume >= 0), price * volume / mcap, np.nan)
        import pandas as pd

        mean = pd.DataFrame(daily).rolling(
            self.window, min_periods=min_observations(self.window, self.min_obs_frac)
        )
        out = np.where(np.isfinite(close), -mean.mean().to_numpy(), np.nan)
        return _as_score(out, cube, self.name)


@attrs.frozen
class RankCombination:
    """The equal-weight mean of the factors' per-date percentile ranks; NaN unless every one is finite."""

    name: str
    parts: tuple

    def __call__(self, cube: xr.Dataset) -> xr.DataArray:
        """The combination on the cube's dates and symbols."""
        import pandas as pd

        total = np.zeros((cube.sizes["date"], cube.sizes["symbol"]))
        for part in self.parts:
            values = part(cube).transpose("date", "symbol").values
            # pct ranks among the day's stocks with a value: each factor weighs the same whatever its scale
            total += pd.DataFrame(values).rank(axis=1, pct=True).to_numpy()  # NaN stays NaN
        return _as_score(total / len(self.parts), cube, self.name)


# --------------------------------------------------------------------------- configs


@frozen
class PriceChangeConfig:
    """A log price change over ``window`` trading days, leaving out the latest ``skip`` days."""

    window: int = field(default=20, validator=_check_window)
    skip: int = field(default=0, validator=validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if self.skip >= self.window:
            raise ValueError(f"skip={self.skip} must be below window={self.window}")


@frozen
class WindowStatConfig:
    """A statistic of daily values over ``window`` trading days, ``min_obs_frac`` of them finite."""

    window: int = field(default=20, validator=_check_window)
    min_obs_frac: float = field(default=0.5, validator=_check_frac)


def with_defaults(family: type, **defaults: object) -> type:
    """The family's config class with other defaults (fields, validators and checks stay the family's)."""
    fields = {
        f.name: attrs.field(default=defaults.get(f.name, f.default), validator=f.validator, type=f.type)
        for f in attrs.fields(attrs.resolve_types(family))
    }
    return attrs.make_class(family.__name__, fields, bases=(family,), frozen=True, slots=True)


#: The five single factors, the default of ``rank_combo`` and of ``[evaluate] baselines``.
SINGLES: tuple[str, ...] = ("reversal_5", "reversal_20", "momentum_60", "low_vol_20", "low_turnover_20")


def _names(_inst: object, attr: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{attr.name} must be a non-empty list of factor names, got {list(value)}")


@frozen
class RankComboConfig:
    """Equal-weight mean of per-date percentile ranks of the named factors (defaults as registered)."""

    factors: tuple[str, ...] = field(default=SINGLES, converter=tuple, validator=_names)


def _build_combo(cfg: RankComboConfig, _in_features: int) -> RankCombination:
    from zoo.registry import get_registry  # the registry of built-ins and installed plugins

    if "rank_combo" in cfg.factors:
        raise RegistryError("factor 'rank_combo' cannot combine itself; name single factors in 'factors'")
    registry = get_registry()
    parts = tuple(registry.build(FACTOR, name, {}) for name in dict.fromkeys(cfg.factors))
    return RankCombination("rank_combo", parts)


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in baseline factors."""
    return [
        Component(
            FACTOR,
            "reversal_5",
            with_defaults(PriceChangeConfig, window=5),
            lambda cfg, _: PriceChange("reversal_5", cfg.window, cfg.skip, sign=-1.0),
            doc="minus the 5-day log price change",
        ),
        Component(
            FACTOR,
            "reversal_20",
            PriceChangeConfig,
            lambda cfg, _: PriceChange("reversal_20", cfg.window, cfg.skip, sign=-1.0),
            doc="minus the 20-day log price change",
        ),
        Component(
            FACTOR,
            "momentum_60",
            with_defaults(PriceChangeConfig, window=60),
            lambda cfg, _: PriceChange("momentum_60", cfg.window, cfg.skip),
            doc="the 60-day log price change",
        ),
        Component(
            FACTOR,
            "low_vol_20",
            WindowStatConfig,
            lambda cfg, _: LowVolatility("low_vol_20", cfg.window, cfg.min_obs_frac),
            doc="minus the 20-day std of daily log returns",
        ),
        Component(
            FACTOR,
            "low_turnover_20",
            WindowStatConfig,
            lambda cfg, _: LowTurnover("low_turnover_20", cfg.window, cfg.min_obs_frac),
            doc="minus the 20-day mean turnover (value / mcap)",
        ),
        Component(
            FACTOR,
            "rank_combo",
            RankComboConfig,
            _build_combo,
            doc="equal-weight rank combination of named factors",
        ),
    ]
