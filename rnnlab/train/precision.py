"""Numeric precision for training: fp32, or bf16 autocast where the hardware supports it.

On recent x86 CPUs (AVX-512 BF16 / AMX) bf16 autocast roughly doubles recurrent-layer throughput;
the master weights and the optimizer stay fp32, so only the matmuls run in bf16.
"""

from __future__ import annotations

import contextlib

import torch

from rnnlab.errors import RnnlabError

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' → 'bf16' where supported, else 'fp32'. An explicit 'bf16' is honoured or refused."""
    if requested not in PRECISIONS:
        raise RnnlabError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = cpu_supports_bf16()
    if requested == "auto":
        return "bf16" if supported else "fp32"
    if requested == "bf16" and not supported:
        raise RnnlabError(f"--precision bf16 is not supported on this {device.type}; use fp32")
    return requested


def autocast(precision: str, device: torch.device):
    """A context manager running the forward pass in the chosen precision."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
