"""The ``[data]`` section: which cube, universe, window and normalisation a model sees."""

from __future__ import annotations

from attrs import field, frozen, validators

FIELDS = ("open", "high", "low", "close", "vwap", "volume")


@frozen
class DataSpec:
    """Where the cube is and how 150-day windows and labels are built from it."""

    #: "embedded" (the committed real A-share slice), "synth" (generated on demand) or a Zarr path.
    store: str = "embedded"
    universe: str = "all"
    window: int = field(default=150, validator=validators.ge(3))
    fields: tuple[str, ...] = field(default=FIELDS, converter=tuple)
    horizon: int = field(default=10, validator=validators.ge(1))
    price_norm: str = field(default="last_close", validator=validators.in_(("last_close", "none")))
    volume_norm: str = field(default="window_mean", validator=validators.in_(("window_mean", "none")))
    #: Cross-sectional clip at this many MADs from the median (0 turns clipping off).
    clip_mad: float = field(default=5.0, validator=validators.ge(0))
    zscore: bool = True
    fill_value: float = 0.0
    #: A stock needs at least this many valid bars in its window to be eligible.
    min_history: int = field(default=120, validator=validators.ge(1))
    neutralize: bool = True
