"""The ``[data]`` section: which cube, universe, window and normalisation a model sees."""

from __future__ import annotations

from attrs import field, frozen, validators

FIELDS = ("open", "high", "low", "close", "vwap", "volume")
UNIVERSES = ("all", "csi300", "csi500", "csi1000")


def _check_fields(instance: object, attribute: object, value: tuple[str, ...]) -> None:
    """Fields must be a non-empty, duplicate-free subset of the cube's six fields."""
    unknown = [f for f in value if f not in FIELDS]
    if not value or unknown or len(set(value)) != len(value):
        raise ValueError(f"fields must be distinct names from {list(FIELDS)}, got {list(value)}")


@frozen
class DataSpec:
    """Where the cube is and how 150-day windows and labels are built from it."""

    #: "embedded" (the committed real A-share slice), "synth" / "synth:N_STOCKS" (generated once,
    #: cached) or a Zarr path.
    store: str = "embedded"
    #: Stocks a model trains on and scores: "all" or a CSI 300 / 500 / 1000 stand-in.
    universe: str = field(default="all", validator=validators.in_(UNIVERSES))
    window: int = field(default=150, validator=validators.ge(3))
    fields: tuple[str, ...] = field(default=FIELDS, converter=tuple, validator=_check_fields)
    horizon: int = field(default=10, validator=validators.ge(1))
    price_norm: str = field(default="last_close", validator=validators.in_(("last_close", "none")))
    volume_norm: str = field(default="window_mean", validator=validators.in_(("window_mean", "none")))
    #: Cross-sectional clip at this many MADs from the median (0 turns clipping off).
    clip_mad: float = field(default=5.0, validator=validators.ge(0))
    zscore: bool = True
    fill_value: float = 0.0
    #: A stock needs at least min(min_history, window) valid bars in its window to be eligible.
    min_history: int = field(default=120, validator=validators.ge(1))
    #: Labels neutralised per date on log size + industry dummies (else raw forward returns).
    neutralize: bool = True
