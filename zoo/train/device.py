"""The one place a run's ``train.device`` and ``train.precision`` become torch settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from zoo.errors import TrainingError

PRECISIONS = ("fp32", "tf32", "bf16")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` as a torch device.

    Asking for CUDA where there is none, or for a GPU index that does not exist, is a TrainingError.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TrainingError(f"train.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise TrainingError(f"train.device={name!r}: only auto, cpu, cuda and cuda:N are supported")
    if not torch.cuda.is_available():
        raise TrainingError(f"train.device={name!r} but no CUDA device is available; use 'cpu' or 'auto'")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise TrainingError(
            f"train.device={name!r} but this machine has {count} CUDA device(s) (0..{count - 1})"
        )
    return torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)


@contextlib.contextmanager
def matmul_precision(device: torch.device, precision: str) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN (convolutions, GRU) only under ``tf32``; restored on exit.

    PyTorch lets cuDNN use TF32 by default; ``fp32`` turns that off so fp32 means fp32. CPU kernels
    have no TF32, so on the CPU this changes nothing.
    """
    if precision not in PRECISIONS:
        raise TrainingError(f"train.precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for a model's forward under ``bf16``; a no-op context otherwise."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (CPU for a model without any)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
