"""The feasible oracle of a synthetic market: E[forward return | each stock's observed prices up to t].

``expected_return`` (the planted oracle) uses the latent drift ``a`` and transient ``u`` exactly, which
no model can know. The feasible oracle is the best (linear, Kalman) prediction of the same forward
log return close(t+1) -> close(t+1+h) from what a model sees up to and including day t:

- the generator's structure and constants: ``a[t] = PHI a[t-1] + eta``, ``u[t] = PSI u[t-1] + zeta``
  with the innovation variances the generator used (``TREND_SD``, ``TRANSIENT_SD`` scaled by the cube's
  ``signal_strength``, ``trend_weight``, ``reversal_weight`` from attrs ``synth_params``), and that
  the day-t log return is ``a[t-1] + u[t] - u[t-1] + noise``;
- each stock's closes, the ``limit_up`` / ``limit_down`` flags and bars missing (not listed,
  suspended);
- with ``peers`` (the default), the day's cross-section: every day's log returns are regressed on
  industry dummies and the previous day's ``size`` over the stocks with a clean one-day return, and
  each stock's fitted value (its industry mean leaving the stock itself out, plus the size slope)
  is removed, which takes out the industry factor, most of the market factor and the size factor;
- the noise variance is *estimated* from the stock's own past de-factored one-day returns, never
  read from the generator's per-stock draws: a GARCH(1, 1) recursion with the generator's
  coefficients (0.05, 0.10, 0.85) around a long-run level of 2 x (mean absolute return)^2 (exact for
  the generator's unit-variance Student-t(4) shocks; a mean of squares is dominated by the t(4)
  tails and too low for most stocks), shrunk to the cross-section while the history is short, less
  the planted pieces' share. The Student-t / GARCH noise is thus approximated by its conditional
  variance, as a Gaussian.

Missing bars and clipped closes: a close is an exact reading of the latent log price unless the
bar is missing or flagged at a price limit. On any other day the filter skips the update and keeps
predicting; the next exact close is read as the log-return since the last exact one (its drift
sum, the transient's change and the summed noise variance are tracked in the state), so nothing is
thrown away across suspensions or limit spells. State per stock: ``(a[t], u[t], c, U)``, with
``c`` the drift summed since the last exact close and ``U`` the transient at that close.

The filter loops over dates only, on (S,) and (S, 4, 4) numpy arrays, in float64; the result is
float32. Everything at t uses data up to t only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xarray as xr
from zoo.datasets.schema import fingerprint

from zoo.errors import DataError

#: The generator's GARCH(1, 1) coefficients (constant, shock, persistence) for idiosyncratic noise.
GARCH = (0.05, 0.10, 0.85)
#: Pseudo-count of the cross-sectional prior on a stock's long-run noise variance.
PRIOR_DAYS = 20.0
#: E|x|^2 of a unit-variance Student-t(4) draw is 1/2: the long-run variance is 2 x (mean |residual|)^2.
ABS_SCALE = 2.0
_INPUTS = ("bars", "size", "industry", "listed", "suspended", "limit_up", "limit_down")


def synth_parameters(cube: xr.Dataset) -> dict[str, float]:
    """The generator's signal_strength, trend_weight, reversal_weight, phi and psi, from the cube's attrs."""
    text = cube.attrs.get("synth_params")
    if not isinstance(text, str):
        raise DataError(
            "feasible oracle: the cube has no attrs 'synth_params' (only synthetic cubes made by "
            "datasets.synth.make_market have a feasible oracle)"
        )
    pairs = dict(item.split("=", 1) for item in text.split() if "=" in item)
    out = {}
    for key in ("signal_strength", "trend_weight", "reversal_weight", "phi", "psi"):
        try:
            out[key] = float(pairs[key])
        except (KeyError, ValueError):
            raise DataError(f"feasible oracle: attrs synth_params {text!r} has no number {key!r}") from None
    return out


def _factor_fit(
    ret: np.ndarray, clean: np.ndarray, size_prev: np.ndarray, industry: np.ndarray, live: np.ndarray
) -> np.ndarray:
    """(S,) fitted factor return of one day: leave-one-out industry mean + size slope (FWL), 0 if none."""
    s = ret.shape[0]
    k = int(industry.max()) + 1
    fit = clean & np.isfinite(size_prev)
    if fit.sum() < 3:
        return np.zeros(s)
    r, z = np.where(fit, ret, 0.0), np.where(fit, size_prev, 0.0)
    n = np.bincount(industry, weights=fit.astype(float), minlength=k)
    sr = np.bincount(industry, weights=r, minlength=k)
    sz = np.bincount(industry, weights=z, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        my, mz = sr / n, sz / n
        rd = np.where(fit, r - my[industry], 0.0)
        zd = np.where(fit, z - mz[industry], 0.0)
    sxx = float((zd * zd).sum())
    slope = float((rd * zd).sum()) / sxx if sxx > 1e-12 else 0.0
    # Leave the stock itself out of its industry's means, so its own planted drift is not removed.
    own = fit.astype(float)
    n_loo = n[industry] - own
    all_r, all_z, all_n = r.sum(), z.sum(), float(fit.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        my_loo = np.where(n_loo > 0, (sr[industry] - own * r) / n_loo, (all_r - own * r) / (all_n - own))
        mz_loo = np.where(n_loo > 0, (sz[industry] - own * z) / n_loo, (all_z - own * z) / (all_n - own))
        fitted = my_loo + slope * (size_prev - mz_loo)
    return np.where(live & np.isfinite(fitted), fitted, 0.0)


def _predict(m: np.ndarray, cov: np.ndarray, q_a: float, q_u: float) -> None:
    """In place, one day: ``a <- PHI a``, ``u <- PSI u``, ``c <- c + a`` on (4, S) and (4, 4, S)."""
    from zoo.datasets.synth import PHI, PSI

    m[2] += m[0]
    m[0] *= PHI
    m[1] *= PSI
    # F P F^T: the transition's row operation on the rows, then on the columns
    cov[2] += cov[0]
    cov[0] *= PHI
    cov[1] *= PSI
    cov[:, 2] += cov[:, 0]
    cov[:, 0] *= PHI
    cov[:, 1] *= PSI
    cov[0, 0] += q_a
    cov[1, 1] += q_u


def _reanchor(m: np.ndarray, cov: np.ndarray, where: np.ndarray) -> None:
    """In place, for stocks ``where``: the drift sum ``c`` restarts at 0 and ``U`` becomes ``u[t]``."""
    m[2] = np.where(where, 0.0, m[2])
    m[3] = np.where(where, m[1], m[3])
    cov[2] = np.where(where, 0.0, cov[2])
    cov[3] = np.where(where, cov[1], cov[3])
    cov[:, 2] = np.where(where, 0.0, cov[:, 2])
    cov[:, 3] = np.where(where, cov[:, 1], cov[:, 3])


@dataclass
class _Filter:
    """The filter's state for every stock, stock-last: ``m`` (4, S) and ``cov`` (4, 4, S) over (a, u, c, U).

    The observation reads ``c + u - U``; the rest is what the noise-variance forecast and the re-anchoring
    at exact closes carry from one day to the next.
    """

    m: np.ndarray
    cov: np.ndarray
    anchored: np.ndarray
    anchor_q: np.ndarray
    noise_acc: np.ndarray  # noise variance summed since the last exact close
    cum_f: np.ndarray  # the stock's fitted factor returns summed over time
    abs_sum: np.ndarray  # |de-factored one-day returns| summed and counted (the long-run level)
    n_abs: np.ndarray
    h_var: np.ndarray  # GARCH conditional variance of the next day's noise
    prev_eps2: np.ndarray  # yesterday's squared clean de-factored return (NaN: none)
    prev_close: np.ndarray
    prev_exact: np.ndarray
    prior: float = np.nan

    @classmethod
    def start(cls, s: int, var_a: float, var_u: float) -> _Filter:
        """The prior state: zero means, the stationary variances of ``a`` and ``u``, nothing anchored."""
        p0 = np.diag([var_a, var_u, 0.0, var_u])
        p0[1, 3] = p0[3, 1] = var_u
        zeros = [np.zeros(s) for _ in range(5)]
        return cls(
            np.zeros((4, s)),
            np.repeat(p0[:, :, None], s, axis=2),
            np.zeros(s, dtype=bool),
            *zeros,
            np.full(s, np.nan),
            np.full(s, np.nan),
            np.full(s, np.nan),
            np.zeros(s, dtype=bool),
        )


@dataclass
class _Day:
    """What one day's bars say: which closes exist and are exact, their logs, the de-factored returns."""

    has_bar: np.ndarray
    exact: np.ndarray
    logc: np.ndarray
    clean: np.ndarray
    eps: np.ndarray


def _observe(
    f: _Filter, close: np.ndarray, clipped: np.ndarray, live: np.ndarray, size_prev, industry, peers
):
    """Read day t's closes against the state (the fitted factor return is added to ``f.cum_f``)."""
    s = close.shape[0]
    has_bar = np.isfinite(close) & (close > 0)
    exact = has_bar & ~clipped
    logc = np.log(np.where(has_bar, close, 1.0))
    ret = logc - np.log(np.where(np.isfinite(f.prev_close), f.prev_close, 1.0))
    clean = exact & f.prev_exact  # a one-day return that reads the latent price at both ends
    fit = _factor_fit(ret, clean, size_prev, industry, live) if peers else np.zeros(s)
    f.cum_f += fit
    return _Day(has_bar, exact, logc, clean, np.where(clean, ret - fit, np.nan))


def _noise_variance(f: _Filter, day: _Day, variance: str, signal_var: float, noise_var) -> tuple:
    """Today's noise variance per stock (data before today only) and the day's mean |eps| (for later)."""
    s = day.eps.shape[0]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        day_mean = np.nanmean(np.abs(day.eps)) if np.isfinite(day.eps).any() else np.nan
        # shrunk to the cross-section while a stock's own history is short
        prior = f.prior
        mean_abs = (f.abs_sum + PRIOR_DAYS * prior) / (f.n_abs + PRIOR_DAYS) if np.isfinite(prior) else np.nan
    long_run = ABS_SCALE * mean_abs**2
    if variance == "garch":
        g_const, g_shock, g_persist = GARCH
        # after a day without a clean return the shock is unknown: use its expectation, h itself
        shock = np.where(np.isfinite(f.prev_eps2), f.prev_eps2, f.h_var)
        f.h_var = np.where(
            np.isfinite(f.h_var), g_const * long_run + g_shock * shock + g_persist * f.h_var, long_run
        )
    else:
        f.h_var = long_run
    noise = np.maximum(f.h_var - signal_var, 0.25 * f.h_var)
    noise = np.where(np.isfinite(noise), noise, 0.02**2)  # before any data: a typical daily variance
    if noise_var is not None:
        noise = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), (s,))
    return noise, day_mean


def _update(f: _Filter, day: _Day) -> None:
    """Update where today's close reads the latent price and an earlier exact close anchors it."""
    m, cov, exact = f.m, f.cov, day.exact
    upd = exact & f.anchored
    y = (day.logc - f.cum_f) - f.anchor_q
    innov = np.where(upd, y - (m[2] + m[1] - m[3]), 0.0)
    ph = cov[:, 2] + cov[:, 1] - cov[:, 3]  # (4, S): P H^T
    var_y = ph[2] + ph[1] - ph[3] + f.noise_acc
    gain = np.where(upd, ph / np.where(upd, var_y, 1.0), 0.0)
    m += gain * innov
    cov -= gain[:, None, :] * ph[None, :, :]
    _reanchor(m, cov, exact)  # at every exact close, observed or the first one
    f.noise_acc = np.where(exact, 0.0, f.noise_acc)
    f.anchor_q = np.where(exact, day.logc - f.cum_f, f.anchor_q)
    f.anchored |= exact


def _carry(f: _Filter, day: _Day, day_mean: float, close: np.ndarray) -> None:
    """Today's de-factored return feeds tomorrow's variance forecast; today's close becomes yesterday's."""
    f.prev_eps2 = np.where(day.clean, day.eps**2, np.nan)
    f.abs_sum += np.where(day.clean, np.abs(day.eps), 0.0)
    f.n_abs += day.clean
    if np.isfinite(day_mean):
        f.prior = day_mean if not np.isfinite(f.prior) else 0.98 * f.prior + 0.02 * day_mean
    f.prev_close = np.where(day.has_bar, close, f.prev_close)
    f.prev_exact = day.exact


def _filter_inputs(cube: xr.Dataset, variance: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The generator's parameters (checked against this generator) and the arrays the filter reads."""
    if variance not in ("garch", "constant"):
        raise DataError(f"feasible oracle: variance={variance!r}, expected 'garch' or 'constant'")
    from zoo.datasets.synth import PHI, PSI

    p = synth_parameters(cube)
    if (p["phi"], p["psi"]) != (PHI, PSI):
        raise DataError(
            f"feasible oracle: cube made with phi={p['phi']} psi={p['psi']}, this generator has "
            f"phi={PHI} psi={PSI}; regenerate the cube"
        )
    arrays = {
        "close": np.asarray(cube["bars"].sel(field="close").values, dtype=np.float64),
        "listed": np.asarray(cube["listed"].values),
        "clipped": np.asarray(cube["limit_up"].values) | np.asarray(cube["limit_down"].values),
        "size": np.asarray(cube["size"].values, dtype=np.float64),
        "industry": np.asarray(cube["industry"].values, dtype=np.int64),
    }
    return p, arrays


def feasible_forward_return(
    cube: xr.Dataset,
    horizons: Iterable[int] | None = None,
    peers: bool = True,
    variance: str = "garch",
    noise_var: float | np.ndarray | None = None,
) -> np.ndarray:
    """(H, D, S) float32 Kalman-filtered E[log return close(t+1) -> close(t+1+h) | prices up to t].

    ``variance``: "garch" (conditional, the default) or "constant" (the stock's long-run level) noise
    variance estimate; ``noise_var`` (scalar or (S,)) replaces the estimate by a known daily variance.
    """
    from zoo.datasets.synth import PHI, PSI, TRANSIENT_SD, TREND_SD, expected_forward_return

    p, x = _filter_inputs(cube, variance)
    hz = [int(h) for h in (cube["horizon"].values if horizons is None else horizons)]
    close, listed = x["close"], x["listed"]
    d, s = close.shape
    var_a = (TREND_SD * p["signal_strength"] * p["trend_weight"]) ** 2  # stationary variance of a
    q_a = var_a * (1 - PHI**2)
    q_u = (TRANSIENT_SD * p["signal_strength"] * p["reversal_weight"]) ** 2
    signal_var = var_a + 2 * q_u / (1 + PSI)  # planted share of a one-day return's variance
    f = _Filter.start(s, var_a, q_u / (1 - PSI**2))
    a_hat, u_hat = np.zeros((d, s)), np.zeros((d, s))
    for t in range(d):
        size_prev = x["size"][t - 1] if t > 0 else np.full(s, np.nan)
        day = _observe(f, close[t], x["clipped"][t], listed[t], size_prev, x["industry"], peers)
        noise, day_mean = _noise_variance(f, day, variance, signal_var, noise_var)
        _predict(f.m, f.cov, q_a, q_u)  # every stock, listed or not: the latent state evolves regardless
        f.noise_acc += np.where(listed[t], noise, 0.0)
        _update(f, day)
        _carry(f, day, day_mean, close[t])
        a_hat[t], u_hat[t] = f.m[0], f.m[1]
    out = np.stack([np.where(listed, expected_forward_return(a_hat, u_hat, h), np.nan) for h in hz])
    return out.astype(np.float32)


def feasible_fingerprint(cube: xr.Dataset) -> str:
    """Digest of what the feasible oracle is computed from (prices, masks, generator parameters)."""
    return fingerprint(cube, variables=_INPUTS) + ":" + str(cube.attrs.get("synth_params", ""))


def ensure_feasible(cube: xr.Dataset, persist: bool = False) -> xr.Dataset:
    """``cube`` with ``feasible_return(horizon, date, symbol)`` for its horizons, computed if missing/stale.

    With ``persist`` the variable is also written into the cube's Zarr store when it is writable.
    """
    if "horizon" not in cube.coords:
        raise DataError("ensure_feasible: the cube has no 'horizon' coordinate (add labels first)")
    fp = feasible_fingerprint(cube)
    hz = [int(h) for h in cube["horizon"].values]
    fr = cube.get("feasible_return")
    if fr is not None and fr.attrs.get("inputs_fingerprint") == fp and fr.attrs.get("horizons") == hz:
        return cube
    values = feasible_forward_return(cube, hz)
    attrs = {
        "inputs_fingerprint": fp,
        "horizons": hz,
        "definition": "Kalman-filtered E[log close(t+1) -> close(t+1+h) | closes, limit flags, "
        "industry and size up to t] with the generator's parameters (datasets.feasible)",
    }
    cube = cube.assign(feasible_return=(("horizon", "date", "symbol"), values, attrs))
    if persist:
        from zoo.datasets.schema import append_variables

        append_variables(cube, ["feasible_return"])
    return cube


def feasible_rank_ic(
    cube: xr.Dataset,
    horizon: int = 10,
    dates: slice | None = None,
    universe: str = "all",
    label: str = "label_raw",
) -> float:
    """Mean daily RankIC of the feasible oracle against the realised label (the learnable part)."""
    from zoo.datasets.synth import oracle_rank_ic

    return oracle_rank_ic(ensure_feasible(cube), horizon, dates, universe, label, variable="feasible_return")
