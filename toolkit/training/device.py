"""``--device auto|cpu|cuda``: where training runs, chosen once and said out loud.

Random streams stay on the CPU whatever the device (every ``torch.Generator`` here is a CPU generator; noise
batches, shuffles and sign-magnitude draws are made there and moved), so a seed gives the same draws on either
device; the arithmetic itself is not bit-identical between a CPU and a GPU (different kernels and summation
orders), so results agree to float tolerance, not bit for bit. Checkpoints are always written from CPU copies
(``save_checkpoint``) and load on any machine.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.errors import BackendUnavailableError, ConfigError

__all__ = ["DEVICE_CHOICES", "describe_device", "device_of", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str = "cpu") -> torch.device:
    """``auto``: the first CUDA device if torch sees one, else the CPU; ``cuda`` (or ``cuda:N``) fails in one line
    when torch has no usable CUDA device, naming why, instead of falling back silently."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        index = 0 if spec == "cuda" else _index(spec)
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None else
                   f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU or driver")
            raise BackendUnavailableError(f"--device {spec}: CUDA is not available ({why}); use --device cpu or auto")
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: there are {torch.cuda.device_count()} CUDA device(s), "
                              f"numbered 0..{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    raise ConfigError(f"--device {spec!r}: choose auto, cpu, cuda or cuda:N")


def _index(spec: str) -> int:
    tail = spec.partition(":")[2]
    if not tail.isdigit():
        raise ConfigError(f"--device {spec!r}: the CUDA device number must be a non-negative integer (cuda:0)")
    return int(tail)


def device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (the CPU for a model without any)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """What ran, for logs and reports: ``cpu (2 threads)`` or ``cuda:0 (NVIDIA H200)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"
