"""What the distorting networks compute in.

``fp32`` is the default everywhere: the released arithmetic (on a GPU without TF32). ``bf16`` is an
explicit choice (``--precision bf16``), recorded in a generation's fingerprint. ``auto`` picks bf16 on a
CUDA device that supports it and fp32 elsewhere: a CPU never gets bf16 by itself, because on one
processor with AVX512-BF16 it measured slower than batched fp32, and without native bf16 it is emulated.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

PRECISIONS = ("fp32", "bf16", "auto")


def compute_dtype(device: Any, precision: str = "fp32") -> torch.dtype:
    """The dtype the distorting networks run in: ``fp32`` (the default, the released arithmetic; on a GPU
    without TF32), ``bf16``, or ``auto``: bf16 on a CUDA device that supports it, else fp32. A CPU never
    gets bf16 by itself: on an AVX512-BF16 processor it was measured slower than fp32, and on one without
    native bf16 it is emulated. The images in and out stay fp32 either way."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return torch.bfloat16 if precision == "bf16" else torch.float32
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@contextlib.contextmanager
def ieee_fp32(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """fp32 convolutions in full fp32 on a GPU (cuDNN would otherwise use TF32, 10-bit mantissas)."""
    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before
