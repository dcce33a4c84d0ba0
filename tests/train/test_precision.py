"""'auto' precision: bf16 only where the CPU runs it faster (AMX), an explicit bf16 wherever it runs."""

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.train import precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("bf16_kernels,amx,expected", [
    (True, True, "bf16"),     # Sapphire Rapids and later
    (True, False, "fp32"),    # AVX-512 BF16 only: bf16 measured slower than fp32
    (False, False, "fp32"),   # no bf16 kernels at all
])
def test_auto_takes_bf16_on_a_cpu_only_with_amx(monkeypatch, bf16_kernels, amx, expected):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: bf16_kernels)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert precision.resolve_precision("auto", CPU) == expected


def test_an_explicit_bf16_runs_without_amx_and_is_refused_without_kernels(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_precision("bf16", CPU) == "bf16"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    with pytest.raises(RnnlabError, match="not supported"):
        precision.resolve_precision("bf16", CPU)


def test_fp32_is_always_fp32_and_an_unknown_name_is_refused():
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(RnnlabError, match="unknown precision 'fp16'"):
        precision.resolve_precision("fp16", CPU)
