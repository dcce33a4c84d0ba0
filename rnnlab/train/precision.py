"""Numeric precision for training: fp32, or bf16 autocast where the hardware runs it faster.

Where bf16 pays depends on the CPU, and CPU flags do not tell: with AMX tiles (Sapphire Rapids
and later) bf16 autocast roughly doubled the char LM's training throughput; on an AMD EPYC with
AVX-512 BF16 and no AMX it did too (LSTM 2×256: 87-94k against 37-41k characters/s; GRU 2×256
54-60k against 31k; measured 2026-12-02); on an Intel Xeon with the same AVX-512 BF16 flag and
no AMX it was about 30% *slower* (LSTM 2×256: 13-20k against 23-27k). So 'auto' takes bf16 on
a CPU with AMX, and on another CPU with bf16 kernels only where a short measurement
(`measure_cpu_bf16_speedup`: a few training steps of a small LSTM in both precisions, about
half a second) finds it clearly faster (BF16_MIN_SPEEDUP). The measurement is made once per
machine and kept in rnnlab's cache folder (`cache_dir`), so every run on a machine, and every
resume there, resolves 'auto' the same way. An explicit 'bf16' runs wherever the CPU can run
it. The master weights and the optimizer stay fp32, so only the matmuls run in bf16.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import time
from pathlib import Path

import torch

from rnnlab.atomic import atomic_write_json
from rnnlab.errors import RnnlabError
from rnnlab.train.distributed import Distributed

PRECISIONS = ("auto", "fp32", "bf16")
# bf16 must train at least this much faster than fp32 for 'auto' to take it: the speed-ups
# seen were ≥ 1.3× where bf16 paid and ≤ 0.8× where it did not, so a margin keeps a noisy
# measurement on a machine near 1× on the side of fp32's exactness.
BF16_MIN_SPEEDUP = 1.15
CACHE_FILE = "cpu_bf16_speed.json"


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_amx() -> bool:
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def cache_dir() -> Path:
    """Where rnnlab keeps per-machine measurements: $RNNLAB_CACHE_DIR, else
    $XDG_CACHE_HOME/rnnlab, else ~/.cache/rnnlab."""
    if os.environ.get("RNNLAB_CACHE_DIR"):
        return Path(os.environ["RNNLAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnlab"


def machine_key() -> str:
    """What the measurement depends on: the CPU (its name, family and model numbers: a name such
    as "AMD EPYC" covers several generations), torch's version and the thread count."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break                  # the first processor's block is enough
                name, _, value = (part.strip() for part in line.partition(":"))
                if name in ("model name", "cpu family", "model"):
                    fields[name] = value
    except OSError:
        pass
    cpu = " ".join(fields[name] for name in ("model name", "cpu family", "model") if name in fields)
    cpu = cpu or platform.processor() or platform.machine()
    return f"{cpu} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def measure_cpu_bf16_speedup(steps: int = 9, warmup: int = 3) -> float:
    """Training steps per second in bf16 autocast over fp32 on this CPU, for a small LSTM
    language model (embedding 64, LSTM 1×256, 96 outputs, batch 64 × 32 steps): the median step
    of each precision decides (~0.5 s). Random state is restored afterwards."""
    from torch import nn
    from torch.nn import functional as F

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        embedding, head = nn.Embedding(96, 64), nn.Linear(256, 96)
        lstm = nn.LSTM(64, 256, batch_first=True)
        parameters = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
        x = torch.randint(0, 96, (64, 32))
        y = torch.randint(0, 96, (64, 32))
        seconds = {"fp32": [], "bf16": []}
        for step in range(warmup + steps):     # the two precisions alternate, so a busy
            for precision in seconds:          # moment of the machine slows both alike
                started = time.perf_counter()
                with autocast(precision, torch.device("cpu")):
                    logits = head(lstm(embedding(x))[0])
                    loss = F.cross_entropy(logits.reshape(-1, 96).float(), y.reshape(-1))
                loss.backward()
                for parameter in parameters:
                    parameter.grad = None
                if step >= warmup:
                    seconds[precision].append(time.perf_counter() - started)
        medians = {precision: sorted(times)[len(times) // 2]
                   for precision, times in seconds.items()}
    return medians["fp32"] / medians["bf16"]


@functools.lru_cache(maxsize=None)
def cpu_bf16_speedup() -> float:
    """This machine's bf16 speed-up (`measure_cpu_bf16_speedup`), measured once and kept in the
    cache folder under `machine_key()`; a cache that cannot be read or written is only skipped."""
    path = cache_dir() / CACHE_FILE
    key = machine_key()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), (int, float)):
        return float(known[key])
    speedup = measure_cpu_bf16_speedup()
    known[key] = round(speedup, 3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, known, indent=1)
    except OSError:
        pass
    return speedup


def cpu_bf16_is_fast() -> bool:
    """Whether bf16 autocast trains faster than fp32 on this CPU (see the module docstring).
    Under torchrun only AMX counts: every rank must resolve 'auto' alike (the precision picks
    the char LM's ladder, so the model), and ranks measuring at once, sharing the cores, could
    disagree."""
    if not cpu_supports_bf16():
        return False
    if cpu_has_amx():
        return True
    if Distributed.launched_by_torchrun():
        return False
    return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' → 'bf16' where it is supported and faster than fp32 (any CUDA device that
    supports it; a CPU with AMX or a measured speed-up), else 'fp32'. An explicit 'bf16' is
    honoured or refused."""
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
