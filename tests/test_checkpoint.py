"""Tests for rnnlab.train.checkpoint: atomic writes, weights, trainer state and config.json."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.train import checkpoint as ckpt
from rnnlab.errors import RnnlabError


def leftover_temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def fail_on_replace_call(monkeypatch, failing_call: int, exception: BaseException) -> None:
    """Make the `failing_call`-th os.replace (1-based) raise, as a crash at that moment would."""
    real_replace = os.replace
    calls = {"count": 0}

    def replace(src, dst):
        calls["count"] += 1
        if calls["count"] == failing_call:
            raise exception
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def assert_identical(actual, expected, where="state"):
    """Equal values AND equal types, all the way down (== alone would accept 1 for 1.0)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert torch.equal(actual, expected.cpu()), where
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, where
        np.testing.assert_array_equal(actual, expected)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert type(key) is type(next(k for k in actual if k == key)), f"{where}: key {key!r}"
            assert_identical(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), where
    elif isinstance(expected, float):
        assert actual == expected and math.copysign(1, actual) == math.copysign(1, expected), where
    else:
        assert actual == expected, where


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def test_atomic_write_bytes_replaces_content(tmp_path):
    target = tmp_path / "file.bin"
    ckpt.atomic_write_bytes(target, b"first")
    ckpt.atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert leftover_temp_files(tmp_path) == []


def test_atomic_write_json_is_strict_json(tmp_path):
    target = tmp_path / "vocab.json"
    ckpt.atomic_write_json(target, {"chars": ["a", "é"], "size": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"chars": ["a", "é"], "size": 2}
    with pytest.raises(ValueError):
        ckpt.atomic_write_json(target, {"loss": float("nan")})
    assert json.loads(target.read_text(encoding="utf-8"))["size"] == 2


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_crash_at_rename_keeps_old_file_and_no_temp_file(tmp_path, monkeypatch, exception):
    target = tmp_path / "config.json"
    ckpt.atomic_write_json(target, {"version": "old"})
    fail_on_replace_call(monkeypatch, 1, exception)
    expected = RnnlabError if isinstance(exception, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        ckpt.atomic_write_json(target, {"version": "new"})
    if expected is RnnlabError:
        assert str(target) in str(info.value) and "No space left" in str(info.value)
    assert json.loads(target.read_text()) == {"version": "old"}
    assert leftover_temp_files(tmp_path) == []


def test_crash_while_writing_data_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    ckpt.atomic_write_bytes(target, b"old")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(RnnlabError, match="cannot write"):
        ckpt.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftover_temp_files(tmp_path) == []


def test_data_is_fsynced_before_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync")
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    ckpt.atomic_write_bytes(tmp_path / "x", b"data")
    assert events[:2] == ["fsync", "replace"]


def test_write_into_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(RnnlabError, match="cannot write .*missing"):
        ckpt.atomic_write_bytes(tmp_path / "missing" / "x.json", b"{}")


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


class TiedModel(nn.Module):
    """Embedding and output layer sharing one matrix, as in a weight-tied language model."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(7, 4)
        self.rnn = nn.GRU(4, 4, batch_first=True)
        self.decoder = nn.Linear(4, 7)
        self.decoder.weight = self.embedding.weight


def small_weights() -> dict[str, torch.Tensor]:
    return {
        "linear.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "linear.bias": torch.tensor([0.5, -1.5, 2.0]),
        "steps": torch.tensor(3, dtype=torch.int64),
    }


def test_weights_round_trip_with_metadata(tmp_path):
    path = tmp_path / "model.safetensors"
    weights = small_weights()
    ckpt.save_weights(path, weights, {"kind": "char_lm"})
    loaded = ckpt.load_weights(path)
    assert_identical(dict(sorted(loaded.items())), dict(sorted(weights.items())))
    loaded["linear.bias"][0] = 99.0  # Loaded tensors own writable memory.
    metadata = ckpt.read_weights_metadata(path)
    assert metadata["kind"] == "char_lm" and ckpt.DIGEST_METADATA_KEY in metadata


def test_weights_accept_non_contiguous_and_grad_tensors(tmp_path):
    path = tmp_path / "w.safetensors"
    transposed = torch.arange(6.0).reshape(2, 3).t()
    parameter = nn.Parameter(torch.ones(2))
    ckpt.save_weights(path, {"t": transposed, "p": parameter})
    loaded = ckpt.load_weights(path)
    assert torch.equal(loaded["t"], transposed) and loaded["t"].is_contiguous()
    assert torch.equal(loaded["p"], torch.ones(2)) and not loaded["p"].requires_grad


def test_tied_weights_are_saved_and_retied_by_load_state_dict(tmp_path):
    torch.manual_seed(0)
    model = TiedModel()
    path = tmp_path / "model.safetensors"
    ckpt.save_weights(path, model.state_dict())
    loaded = ckpt.load_weights(path)
    assert torch.equal(loaded["embedding.weight"], loaded["decoder.weight"])
    assert loaded["embedding.weight"].data_ptr() != loaded["decoder.weight"].data_ptr()
    shared = json.loads(ckpt.read_weights_metadata(path)[ckpt.SHARED_METADATA_KEY])
    assert sorted(shared[0]) == ["decoder.weight", "embedding.weight"]
    # The model being saved is untouched: still tied.
    assert model.decoder.weight is model.embedding.weight

    fresh = TiedModel()
    fresh.load_state_dict(loaded)
    assert fresh.decoder.weight is fresh.embedding.weight
    assert torch.equal(fresh.embedding.weight, model.embedding.weight)


def test_views_into_one_buffer_are_saved_but_not_reported_as_tied(tmp_path):
    # Like cuDNN's flattened RNN weights: separate tensors over one block of memory.
    flat = torch.arange(10.0)
    path = tmp_path / "w.safetensors"
    ckpt.save_weights(path, {"a": flat[:4], "b": flat[4:].view(2, 3)})
    loaded = ckpt.load_weights(path)
    assert torch.equal(loaded["a"], flat[:4]) and torch.equal(loaded["b"], flat[4:].view(2, 3))
    assert ckpt.SHARED_METADATA_KEY not in ckpt.read_weights_metadata(path)


def test_weight_metadata_must_be_strings_and_not_reserved(tmp_path):
    with pytest.raises(TypeError):
        ckpt.save_weights(tmp_path / "w.safetensors", small_weights(), {"epochs": 3})
    with pytest.raises(ValueError, match="reserved"):
        ckpt.save_weights(tmp_path / "w.safetensors", small_weights(), {"rnnlab.x": "y"})
    assert not (tmp_path / "w.safetensors").exists()


@pytest.fixture
def weights_file(tmp_path) -> Path:
    path = tmp_path / "model.safetensors"
    ckpt.save_weights(path, small_weights(), {"kind": "char_lm"})
    return path


def header_length(data: bytes) -> int:
    return 8 + int.from_bytes(data[:8], "little")


def test_truncated_weights_are_refused(weights_file):
    data = weights_file.read_bytes()
    end_of_header = header_length(data)
    offsets = [0, 1, 7, 8, 9, end_of_header // 2, end_of_header - 1, end_of_header,
               end_of_header + 3, len(data) - 1]
    for offset in offsets:
        weights_file.write_bytes(data[:offset])
        with pytest.raises(RnnlabError, match="corrupt or truncated") as info:
            ckpt.load_weights(weights_file)
        assert str(weights_file) in str(info.value) and "\n" not in str(info.value)


def test_every_flipped_byte_is_refused(weights_file):
    """Header, length prefix and data: no single-bit flip may load as valid weights."""
    data = weights_file.read_bytes()
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x01
        weights_file.write_bytes(bytes(damaged))
        with pytest.raises(RnnlabError, match="corrupt") as info:
            ckpt.load_weights(weights_file)
        assert str(weights_file) in str(info.value), index


def test_renamed_tensor_with_valid_header_is_refused(weights_file):
    data = weights_file.read_bytes()
    tampered = data.replace(b"linear.bias", b"linear.bian")
    weights_file.write_bytes(tampered)
    with pytest.raises(RnnlabError, match="does not match the digest"):
        ckpt.load_weights(weights_file)


@pytest.mark.parametrize("content", [b"", b"hello, world", b'{"a": 1}', b"\x80\x02}q\x00."])
def test_non_safetensors_files_are_refused(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(RnnlabError, match=f"{path}.* corrupt or truncated"):
        ckpt.load_weights(path)


def test_torch_save_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save(small_weights(), path)
    with pytest.raises(RnnlabError, match="corrupt or truncated"):
        ckpt.load_weights(path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(RnnlabError, match="does not exist"):
        ckpt.load_weights(tmp_path / "nope.safetensors")


def test_foreign_safetensors_need_verify_false(tmp_path):
    import safetensors.torch

    path = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2)}, path)
    with pytest.raises(RnnlabError, match="not written by rnnlab"):
        ckpt.load_weights(path)
    assert torch.equal(ckpt.load_weights(path, verify=False)["w"], torch.ones(2))


def test_check_state_dict_reports_everything_in_one_line():
    loaded = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "extra": torch.zeros(1)}
    expected = {"a": (2, 3), "b": (5,), "c": (1,)}
    with pytest.raises(RnnlabError) as info:
        ckpt.check_state_dict(loaded, expected, "run/model.safetensors")
    message = str(info.value)
    assert message.startswith("run/model.safetensors does not fit the model")
    assert "missing keys: c" in message
    assert "unexpected keys: extra" in message
    assert "b is (4,), expected (5,)" in message
    assert "\n" not in message


def test_check_state_dict_accepts_a_match_and_expected_shapes_reads_a_module():
    model = TiedModel()
    ckpt.check_state_dict(model.state_dict(), ckpt.expected_shapes(model), "x")
    assert ckpt.expected_shapes(model)["decoder.weight"] == (7, 4)


def test_check_state_dict_shortens_long_lists():
    expected = {f"layer{i}.weight": (1,) for i in range(20)}
    with pytest.raises(RnnlabError, match="and 12 more"):
        ckpt.check_state_dict({}, expected, "f")


# --------------------------------------------------------------------------------------------
# Trainer state
# --------------------------------------------------------------------------------------------


def awkward_state() -> dict:
    return {
        "step": 12,
        "ratio": 0.1,
        "special floats": [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324],
        "big int": 2**100,
        "flags": (True, False, None),
        "int keys": {0: "zero", 1: {"nested": (1, 2.0, "3")}},
        "mixed keys": {1: "int", "1": "str", (1, 2): "tuple", None: "none", 2.5: "float"},
        "$dollar key": {"$tensor": "not a tag"},
        "empty": [{}, [], ()],
        "tensors": {
            "float": torch.randn(3, 2),
            "double": torch.randn(2, dtype=torch.float64),
            "bf16": torch.randn(4).to(torch.bfloat16),
            "long": torch.tensor([1, 2, 3]),
            "bool": torch.tensor([True, False]),
            "scalar": torch.tensor(4.0),
            "empty": torch.zeros(0, 3),
            "transposed": torch.arange(6.0).reshape(2, 3).t(),
        },
        "numpy": {
            "array": np.arange(5, dtype=np.uint32),
            "matrix": np.eye(2),
            "f32": np.float32(0.1),
            "i64": np.int64(-7),
            "bool": np.bool_(True),
            "nan": np.float64("nan"),
        },
    }


def test_awkward_state_round_trips_exactly(tmp_path):
    state = awkward_state()
    ckpt.save_state(tmp_path / "state", state)
    assert_identical(ckpt.load_state(tmp_path / "state"), state)


def test_same_tensor_twice_in_state(tmp_path):
    shared = torch.ones(3)
    ckpt.save_state(tmp_path / "s", {"a": shared, "b": shared, "view": shared[1:]})
    loaded = ckpt.load_state(tmp_path / "s")
    assert torch.equal(loaded["a"], shared) and torch.equal(loaded["b"], shared)
    assert torch.equal(loaded["view"], torch.ones(2))


def test_state_paths_for_directory_and_prefix(tmp_path):
    assert ckpt.state_paths(tmp_path) == (
        tmp_path / "trainer_state.json", tmp_path / "trainer_state.safetensors")
    assert ckpt.state_paths(tmp_path / "ck") == (tmp_path / "ck.json", tmp_path / "ck.safetensors")
    assert ckpt.state_paths(tmp_path / "ck.json") == ckpt.state_paths(tmp_path / "ck")
    ckpt.save_state(tmp_path, {"step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trainer_state.json", "trainer_state.safetensors"]
    assert ckpt.load_state(tmp_path) == {"step": 1}


def test_state_json_stays_readable(tmp_path):
    ckpt.save_state(tmp_path, {"step": 5, "optimizer": {"lr": 0.01}})
    document = json.loads((tmp_path / "trainer_state.json").read_text())
    assert document["state"] == {"step": 5, "optimizer": {"lr": 0.01}}
    assert len(document["tensor_file_sha256"]) == 64


def test_unsupported_value_names_its_place(tmp_path):
    with pytest.raises(TypeError, match="set at state/scheduler/milestones"):
        ckpt.save_state(tmp_path / "s", {"scheduler": {"milestones": {1, 2}}})
    assert list(tmp_path.iterdir()) == []


def run_steps(model, optimizer, steps, inputs, targets):
    for _ in range(steps):
        optimizer.zero_grad()
        output, _ = model(inputs)
        loss = ((output - targets) ** 2).mean()
        loss.backward()
        optimizer.step()


def test_adamw_resume_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    inputs, targets = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    model = nn.LSTM(3, 4, batch_first=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    run_steps(model, optimizer, 3, inputs, targets)

    ckpt.save_weights(tmp_path / "model.safetensors", model.state_dict())
    ckpt.save_state(tmp_path, {"optimizer": optimizer.state_dict(), "step": 3})
    run_steps(model, optimizer, 3, inputs, targets)  # The run that never stopped.

    resumed = nn.LSTM(3, 4, batch_first=True)
    resumed.load_state_dict(ckpt.load_weights(tmp_path / "model.safetensors"))
    resumed_optimizer = torch.optim.AdamW(resumed.parameters(), lr=0.5)
    resumed_optimizer.load_state_dict(ckpt.load_state(tmp_path)["optimizer"])
    run_steps(resumed, resumed_optimizer, 3, inputs, targets)

    for (name, expected), (_, actual) in zip(model.named_parameters(), resumed.named_parameters()):
        assert torch.equal(actual, expected), name


def test_adamw_state_dict_round_trips_exactly(tmp_path):
    torch.manual_seed(1)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
    saved = optimizer.state_dict()
    ckpt.save_state(tmp_path, {"optimizer": saved})
    assert_identical(ckpt.load_state(tmp_path)["optimizer"], saved)


@pytest.fixture
def restore_global_rngs():
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()
    yield
    torch.set_rng_state(states[0])
    random.setstate(states[1])
    np.random.set_state(states[2])


def test_rng_states_round_trip(tmp_path, restore_global_rngs):
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    generator = np.random.default_rng(5)
    generator.random(3)
    ckpt.save_state(tmp_path, {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "numpy_generator": generator.bit_generator.state,
    })
    expected = (torch.rand(4), random.random(), np.random.rand(2), generator.random(2))

    state = ckpt.load_state(tmp_path)
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    generator.bit_generator.state = state["numpy_generator"]
    assert torch.equal(torch.rand(4), expected[0])
    assert random.random() == expected[1]
    np.testing.assert_array_equal(np.random.rand(2), expected[2])
    np.testing.assert_array_equal(generator.random(2), expected[3])


def test_mismatched_state_halves_are_refused(tmp_path):
    ckpt.save_state(tmp_path / "a", {"w": torch.zeros(2)})
    ckpt.save_state(tmp_path / "b", {"w": torch.ones(2)})
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(RnnlabError, match="does not match .*a.json"):
        ckpt.load_state(tmp_path / "a")


def test_crash_between_state_halves_is_refused_not_mixed(tmp_path, monkeypatch):
    ckpt.save_state(tmp_path, {"step": 1, "w": torch.zeros(2)})
    fail_on_replace_call(monkeypatch, 2, OSError(28, "No space left on device"))  # The JSON.
    with pytest.raises(RnnlabError, match="cannot write"):
        ckpt.save_state(tmp_path, {"step": 2, "w": torch.ones(2)})
    monkeypatch.undo()
    assert json.loads((tmp_path / "trainer_state.json").read_text())["state"]["step"] == 1
    assert leftover_temp_files(tmp_path) == []
    with pytest.raises(RnnlabError, match="different saves"):
        ckpt.load_state(tmp_path)


def test_crash_before_any_state_half_keeps_old_state(tmp_path, monkeypatch):
    ckpt.save_state(tmp_path, {"step": 1, "w": torch.zeros(2)})
    fail_on_replace_call(monkeypatch, 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_state(tmp_path, {"step": 2, "w": torch.ones(2)})
    monkeypatch.undo()
    assert_identical(ckpt.load_state(tmp_path), {"step": 1, "w": torch.zeros(2)})
    assert leftover_temp_files(tmp_path) == []


def test_missing_state_files(tmp_path):
    with pytest.raises(RnnlabError, match="no trainer state: .*trainer_state.json does not exist"):
        ckpt.load_state(tmp_path)
    ckpt.save_state(tmp_path, {"w": torch.zeros(1)})
    (tmp_path / "trainer_state.safetensors").unlink()
    with pytest.raises(RnnlabError, match="trainer_state.safetensors is missing"):
        ckpt.load_state(tmp_path)


def rewrite_state_json(directory: Path, change) -> None:
    path = directory / "trainer_state.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("change, message", [
    (lambda d: d["state"].update(w={"$tensor": "nope"}), "does not hold"),
    (lambda d: d["state"].update(x={"$mystery": 1}), "unknown or malformed tag"),
    (lambda d: d["state"].update(x={"$tuple": [], "y": 1}), "mixes"),
    (lambda d: d["state"].update(x={"$dict": [[[1], 2]]}), "not hashable"),
    (lambda d: d.update(format_version=9), "format_version 9"),
    (lambda d: d.pop("state"), "lacks state"),
])
def test_damaged_state_json_is_refused(tmp_path, change, message):
    ckpt.save_state(tmp_path, {"w": torch.zeros(1)})
    rewrite_state_json(tmp_path, change)
    with pytest.raises(RnnlabError, match=message):
        ckpt.load_state(tmp_path)


def test_invalid_state_json_gives_line_and_column(tmp_path):
    ckpt.save_state(tmp_path, {"w": torch.zeros(1)})
    (tmp_path / "trainer_state.json").write_text('{\n  "state": \n}')
    with pytest.raises(RnnlabError, match="not valid JSON: .* line 3, column 1"):
        ckpt.load_state(tmp_path)


# --------------------------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------------------------


def make_run(tmp_path, config=None, weights=True) -> Path:
    run = tmp_path / "run"
    ckpt.write_config(run, config or {"kind": "char_lm", "model": {"hidden": 8}, "train": {}})
    if weights:
        ckpt.save_weights(run / ckpt.WEIGHTS_FILE, small_weights())
    return run


def test_config_round_trip_adds_format_version_first(tmp_path):
    run = make_run(tmp_path)
    config = ckpt.read_config(run, expected_kind="char_lm")
    assert list(config)[:2] == ["format_version", "kind"]
    assert config == {"format_version": 1, "kind": "char_lm", "model": {"hidden": 8}, "train": {}}


def test_write_config_requires_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        ckpt.write_config(tmp_path, {"model": {}})


def test_missing_run_directory(tmp_path):
    with pytest.raises(RnnlabError, match=f"run directory {tmp_path / 'nope'} does not exist"):
        ckpt.read_config(tmp_path / "nope")


def test_run_directory_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RnnlabError, match="is not a run directory"):
        ckpt.read_config(tmp_path / "file")


def test_empty_run_directory_says_what_is_missing(tmp_path):
    expected = "holds no checkpoint: config.json and model.safetensors are missing"
    with pytest.raises(RnnlabError, match=expected):
        ckpt.read_config(tmp_path)


def test_run_without_weights(tmp_path):
    run = make_run(tmp_path, weights=False)
    with pytest.raises(RnnlabError, match="holds no checkpoint: model.safetensors is missing"):
        ckpt.read_config(run)
    assert ckpt.read_config(run, require_weights=False)["kind"] == "char_lm"


def test_invalid_config_json_gives_line_and_column(tmp_path):
    run = make_run(tmp_path)
    (run / "config.json").write_text('{\n  "format_version": 1,\n  "kind": "char_lm",,\n}')
    with pytest.raises(RnnlabError, match=r"config.json is not valid JSON: .* line 3, column 21"):
        ckpt.read_config(run)


def test_config_that_is_not_an_object(tmp_path):
    run = make_run(tmp_path)
    (run / "config.json").write_text("[1, 2]")
    with pytest.raises(RnnlabError, match="must hold a JSON object, found a list"):
        ckpt.read_config(run)


@pytest.mark.parametrize("version, shown", [(2, "2"), ("1", '"1"'), (True, "true"), (1.0, "1.0")])
def test_unknown_format_version(tmp_path, version, shown):
    run = make_run(tmp_path, {"format_version": version, "kind": "char_lm"})
    expected = f"format_version {shown}, but this rnnlab reads format_version 1 only"
    with pytest.raises(RnnlabError, match=expected):
        ckpt.read_config(run)


def test_other_supported_versions_are_accepted(tmp_path):
    run = make_run(tmp_path, {"format_version": 2, "kind": "char_lm"})
    assert ckpt.read_config(run, supported_versions=(1, 2))["format_version"] == 2


def test_missing_format_version(tmp_path):
    run = make_run(tmp_path)
    (run / "config.json").write_text('{"kind": "char_lm"}')
    with pytest.raises(RnnlabError, match="has no format_version"):
        ckpt.read_config(run)


def test_wrong_kind(tmp_path):
    run = make_run(tmp_path, {"kind": "tagger"})
    expected = "is a 'tagger' checkpoint, but a 'char_lm' checkpoint was expected"
    with pytest.raises(RnnlabError, match=expected):
        ckpt.read_config(run, expected_kind="char_lm")
    assert ckpt.read_config(run)["kind"] == "tagger"


def test_config_without_kind(tmp_path):
    run = make_run(tmp_path)
    (run / "config.json").write_text('{"format_version": 1}')
    with pytest.raises(RnnlabError, match="no 'kind'"):
        ckpt.read_config(run)
