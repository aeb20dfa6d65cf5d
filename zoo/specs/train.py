"""The ``[train]`` section: loss, optimiser, early stopping, seeds and the rolling test years."""

from __future__ import annotations

import re

from attrs import field, frozen, validators

from zoo.specs.model import ComponentRef

#: attrs field metadata: the canonical form (and so the spec hash) leaves the field out while it holds
#: its default, so a key added after specs were hashed does not change their hashes.
OMIT_DEFAULT = "zoo.omit_default"

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = ("fp32", "tf32", "bf16")


def _check_device(instance: object, attribute: object, value: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether that device exists is checked when a run starts)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {value!r}")


@frozen
class TrainSpec:
    """How a model is trained and rolled over the test years."""

    #: A registered ``loss`` component; its ``label_norm`` picks the label standardisation.
    loss: ComponentRef = field(factory=lambda: ComponentRef("ic"))
    lr: float = field(default=1e-3, validator=validators.gt(0))
    max_epochs: int = field(default=100, validator=validators.ge(1))
    patience: int = field(default=15, validator=validators.ge(1))
    seeds: tuple[int, ...] = field(default=(0, 42, 3407), converter=tuple, validator=validators.min_len(1))
    test_years: tuple[int, ...] = field(factory=tuple, converter=tuple)
    train_years: int = field(default=4, validator=validators.ge(1))
    valid_years: int = field(default=1, validator=validators.ge(1))
    #: Trading days between train / valid / test; None means label horizon + 1 (never less).
    purge_days: int | None = None
    #: Training days drawn per epoch (a fresh random draw each epoch); 0 = every training day.
    days_per_epoch: int = field(default=0, validator=validators.ge(0))
    #: Stocks per training step (0 = every eligible stock): each step draws this many of the day's
    #: stocks within its size groups (each keeps its share), reproducibly per seed; validation and
    #: test always score every stock.
    stocks_per_day: int = field(default=0, validator=validators.ge(0), metadata={OMIT_DEFAULT: True})
    #: Use every k-th validation day for early stopping (1 = all; larger is faster, noisier).
    valid_stride: int = field(default=1, validator=validators.ge(1))
    #: A day needs this many valid, labelled stocks to be a training step or count in the RankIC.
    min_stocks: int = field(default=10, validator=validators.ge(3))
    #: Clip the gradient norm (0 = off; the report does not clip).
    grad_clip: float = field(default=0.0, validator=validators.ge(0))
    #: torch CPU threads (0 = torch's default).
    threads: int = field(default=0, validator=validators.ge(0))
    #: MLflow tracking URI; "" = ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db`` in the working folder.
    tracking_uri: str = ""
    #: Where the model, the day tensors, the loss and the metrics live: "auto" (CUDA when available,
    #: else CPU), "cpu", "cuda" or "cuda:N". Resolved once when a run starts.
    device: str = field(default="cpu", validator=_check_device)
    #: "fp32"; "tf32" (CUDA matmuls and convolutions in TF32); "bf16" (the model under bfloat16
    #: autocast; the loss, label ranks and z-scores stay float32). See docs/training.md.
    precision: str = field(
        default="fp32", validator=validators.in_(PRECISIONS), metadata={OMIT_DEFAULT: True}
    )
    #: Residualise each fit's test scores per date on log size + industry dummies (the label's own
    #: regression, data at t only) before the seed ensemble: the factor carries no size or industry bet.
    neutralize_scores: bool = field(default=False, metadata={OMIT_DEFAULT: True})
