"""Checkpoints: architecture + weights (+ training history), safe to load.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code). Written atomically. It carries the SHA-256 of its
architecture and weights (``sha256``: the architecture's JSON, then every tensor's name, dtype, shape and bytes
in name order), checked on load, so a damaged file is refused in one line instead of loading wrong weights
(checkpoints written before the digest load without the check).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.errors import CheckpointError
from toolkit.fsutil import atomic_path
from toolkit.training.models import Arch, build_model

__all__ = ["CHECKPOINT_FORMAT", "content_digest", "load_checkpoint", "read_checkpoint_file", "save_checkpoint"]


def content_digest(arch: dict[str, Any], state: dict[str, Any]) -> str:
    """SHA-256 over the architecture (its JSON with sorted keys) and a state dict (each entry's name, dtype, shape
    and bytes, in name order)."""
    h = hashlib.sha256(json.dumps(arch, sort_keys=True).encode())
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"state_dict entry {name!r} is a {type(t).__name__}, not a tensor")
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()

CHECKPOINT_FORMAT = "nfa-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, model: nn.Module, arch: Arch, **extra: Any) -> Path:
    """Write ``model``'s weights with ``arch`` and any JSON-like ``extra`` fields."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "arch": arch.to_dict(),
               "state_dict": state, "sha256": content_digest(arch.to_dict(), state), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint_file(path: str | Path, *, expect: tuple[str, int, str] | None = None) -> dict[str, Any]:
    """The raw dict of a checkpoint file of any of our formats (its ``format`` field says which: this module's
    ``CHECKPOINT_FORMAT``, or ``toolkit.training.eprop.RSNN_FORMAT`` for a recurrent network). ``expect``:
    (format, version, what it is called in errors), checked; else unchecked."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint (train one with `nfa demo`, `nfa train CONFIG.yaml` or "
                              "`nfa bench eprop`)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for corrupt files
        raise CheckpointError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{p}: not an nfa checkpoint (it holds a {type(ckpt).__name__}, not a dict)")
    if expect is not None:
        fmt, version, what = expect
        if ckpt.get("format") != fmt:
            raise CheckpointError(f"{p}: not {what} (expected format {fmt!r}, found {ckpt.get('format')!r})")
        if ckpt.get("version") != version:
            raise CheckpointError(f"{p}: {what} version {ckpt.get('version')} is not supported "
                                  f"(this toolkit reads version {version})")
    return ckpt


def load_checkpoint(path: str | Path) -> tuple[nn.Sequential, Arch, dict[str, Any]]:
    """Rebuild the model from ``path``; return (model, arch, the whole checkpoint dict)."""
    p = Path(path)
    ckpt = read_checkpoint_file(p, expect=(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "an nfa checkpoint"))
    for key, kind in (("arch", dict), ("state_dict", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(f"{p}: the checkpoint has no {key!r} {kind.__name__} (damaged, or not written by "
                                  "nfa train); retrain or restore the file from a copy")
    digest = ckpt.get("sha256")
    if digest is not None and content_digest(ckpt["arch"], ckpt["state_dict"]) != digest:
        raise CheckpointError(f"{p}: the checkpoint is corrupted (its architecture and weights do not match the "
                              "SHA-256 digest written with them); retrain or restore the file from a copy")
    arch = Arch.from_dict(ckpt["arch"])
    model = build_model(arch)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())
        raise CheckpointError(f"{p}: weights do not match the architecture {arch.to_dict()}: {reason}") from None
    model.eval()
    return model, arch, ckpt
