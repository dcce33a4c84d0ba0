"""Numeric precision for training: fp32, or bf16 autocast where the hardware supports it.

Where bf16 pays depends on the CPU: with AMX tiles (Sapphire Rapids and later) bf16 autocast
roughly doubled the char LM's training throughput, while on a Xeon with AVX-512 BF16 but no
AMX it was slower than fp32 (LSTM 2×256: 13-20k against 23-27k characters/s; GRU 2×256: 15k
against 21-22k; measured 2026-12-02). So 'auto' takes bf16 on a CPU only with AMX; an explicit
'bf16' runs wherever the CPU can run it. The master weights and the optimizer stay fp32, so
only the matmuls run in bf16.
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


def cpu_bf16_is_fast() -> bool:
    """Whether bf16 matmuls beat fp32 on this CPU: only with AMX tiles (see the docstring)."""
    try:
        return cpu_supports_bf16() and bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' → 'bf16' where it is supported and faster than fp32 (any CUDA device that
    supports it; a CPU with AMX), else 'fp32'. An explicit 'bf16' is honoured or refused."""
    if requested not in PRECISIONS:
        raise RnnlabError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = cpu_supports_bf16()
    if requested == "auto":
        fast = supported if device.type == "cuda" else cpu_bf16_is_fast()
        return "bf16" if fast else "fp32"
    if requested == "bf16" and not supported:
        raise RnnlabError(f"--precision bf16 is not supported on this {device.type}; use fp32")
    return requested


def autocast(precision: str, device: torch.device):
    """A context manager running the forward pass in the chosen precision."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
