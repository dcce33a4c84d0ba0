"""'auto' precision: bf16 only where this CPU runs it faster (AMX, or a measured speed-up that is
kept per machine); an explicit bf16 wherever it runs."""

import json
import math

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.train import precision

CPU = torch.device("cpu")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, and no speed-up remembered by this process."""
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    precision.cpu_bf16_speedup.cache_clear()
    yield tmp_path / "cache"
    precision.cpu_bf16_speedup.cache_clear()


def scripted_speedups(monkeypatch, *values):
    """Make the measurement return `values` in turn; returns the list of calls made."""
    calls = []

    def measure():
        calls.append(len(calls))
        return values[len(calls) - 1]

    monkeypatch.setattr(precision, "measure_cpu_bf16_speedup", measure)
    return calls


@pytest.mark.parametrize("bf16_kernels,amx,speedup,expected", [
    (True, True, None, "bf16"),     # AMX: fast without measuring
    (True, False, 1.5, "bf16"),     # AVX-512 BF16 measured faster (an AMD EPYC did 1.5-2.3×)
    (True, False, 0.7, "fp32"),     # AVX-512 BF16 measured slower (an Intel Xeon did ~0.7×)
    (True, False, 1.1, "fp32"),     # within the margin: fp32
    (False, False, None, "fp32"),   # no bf16 kernels: nothing to measure
])
def test_auto_takes_bf16_on_a_cpu_only_where_it_is_faster(monkeypatch, fresh_cache, bf16_kernels,
                                                         amx, speedup, expected):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: bf16_kernels)
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    calls = scripted_speedups(monkeypatch, speedup)
    assert precision.resolve_precision("auto", CPU) == expected
    assert len(calls) == (1 if speedup is not None else 0)


def test_under_torchrun_auto_does_not_measure_so_that_the_ranks_agree(monkeypatch, fresh_cache):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    calls = scripted_speedups(monkeypatch, 2.0)
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert precision.resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    assert precision.resolve_precision("auto", CPU) == "bf16"
    assert calls == []


def test_the_speedup_is_measured_once_per_machine_and_kept(monkeypatch, fresh_cache):
    monkeypatch.setattr(precision, "machine_key", lambda: "cpu A")
    calls = scripted_speedups(monkeypatch, 1.5, 0.7)
    assert precision.cpu_bf16_speedup() == 1.5
    precision.cpu_bf16_speedup.cache_clear()            # a new process on the same machine
    assert precision.cpu_bf16_speedup() == 1.5
    assert len(calls) == 1
    monkeypatch.setattr(precision, "machine_key", lambda: "cpu B")
    precision.cpu_bf16_speedup.cache_clear()            # another machine sharing the home folder
    assert precision.cpu_bf16_speedup() == 0.7
    assert json.loads((fresh_cache / precision.CACHE_FILE).read_text()) == {"cpu A": 1.5,
                                                                            "cpu B": 0.7}


def test_a_damaged_or_unwritable_cache_only_costs_a_measurement(monkeypatch, fresh_cache):
    fresh_cache.mkdir()
    (fresh_cache / precision.CACHE_FILE).write_text("{not json")
    calls = scripted_speedups(monkeypatch, 1.4, 1.4)
    assert precision.cpu_bf16_speedup() == 1.4
    assert len(calls) == 1
    blocker = fresh_cache / "file"
    blocker.write_text("")
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(blocker / "below a file"))
    precision.cpu_bf16_speedup.cache_clear()
    assert precision.cpu_bf16_speedup() == 1.4
    assert len(calls) == 2


# Only made where oneDNN has bf16 kernels (tested above); without them (an AVX2-only CPU) bf16
# recurrent layers cannot even be built ("could not create a primitive descriptor").
@pytest.mark.skipif(not precision.cpu_supports_bf16(), reason="this CPU has no bf16 kernels")
def test_the_real_measurement_is_a_positive_ratio_and_leaves_the_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    speedup = precision.measure_cpu_bf16_speedup(steps=2, warmup=1)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.equal(torch.rand(3), expected)


def test_the_key_names_the_cpu_torch_and_threads():
    key = precision.machine_key()
    assert torch.__version__ in key and f"{torch.get_num_threads()} threads" in key


def test_an_explicit_bf16_runs_without_amx_and_is_refused_without_kernels(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_precision("bf16", CPU) == "bf16"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    with pytest.raises(RnnlabError, match="not supported"):
        precision.resolve_precision("bf16", CPU)


def test_fp32_is_always_fp32_and_an_unknown_name_is_refused():
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(RnnlabError, match="unknown precision 'fp16'"):
        precision.resolve_precision("fp16", CPU)
