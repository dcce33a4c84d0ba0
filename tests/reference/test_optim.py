"""NumPy optimizers: parity with torch.optim, exact resume from state_dict, input errors."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.reference.optim import SGD, Adagrad, Adam

SHAPES = {"W_xh": (3, 2), "W_hh": (3, 3), "b_h": (3,)}
STEPS = 6

# (our class, torch class, keyword arguments valid for both)
CONFIGS = {
    "sgd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "sgd-momentum-decay": (SGD, torch.optim.SGD,
                           {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd-dampening": (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    "sgd-nesterov": (SGD, torch.optim.SGD,
                     {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}),
    "adagrad": (Adagrad, torch.optim.Adagrad, {"lr": 0.1}),
    "adagrad-all": (Adagrad, torch.optim.Adagrad,
                    {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.02,
                     "initial_accumulator_value": 0.3, "eps": 1e-6}),
    "adam": (Adam, torch.optim.Adam, {"lr": 0.01}),
    "adam-all": (Adam, torch.optim.Adam,
                 {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    "adam-low-beta1": (Adam, torch.optim.Adam, {"lr": 0.02, "betas": (0.3, 0.5)}),
}


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def make_grads(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [{name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
            for _ in range(steps)]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_matches_torch_optim_in_float64(config):
    ours_cls, torch_cls, kwargs = CONFIGS[config]
    params = make_params()
    tensors = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
               for name, value in params.items()}
    ours = ours_cls(params, **kwargs)
    theirs = torch_cls(list(tensors.values()), foreach=False, **kwargs)
    start = {name: value.copy() for name, value in params.items()}

    for grads in make_grads(STEPS):
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[name])
        theirs.step()
        ours.step(grads)
        for name, tensor in tensors.items():
            np.testing.assert_allclose(params[name], tensor.detach().numpy(),
                                       rtol=1e-12, atol=1e-14, err_msg=name)
    # Guard against a vacuous pass: the parameters really moved.
    assert all(not np.allclose(params[n], start[n]) for n in params)


def test_sgd_single_step_by_hand():
    params = {"w": np.array([1.0, -2.0])}
    SGD(params, lr=0.5).step({"w": np.array([0.2, 0.4])})
    np.testing.assert_array_equal(params["w"], [1.0 - 0.5 * 0.2, -2.0 - 0.5 * 0.4])


def test_adam_first_step_moves_each_entry_by_about_lr():
    # With bias correction, step 1 is lr * g / (|g| + eps'): a move of lr against the sign of g.
    params = {"w": np.array([0.0, 0.0, 0.0])}
    Adam(params, lr=0.01, eps=0.0).step({"w": np.array([3.0, -0.5, 1e-3])})
    np.testing.assert_allclose(params["w"], [-0.01, 0.01, -0.01], rtol=1e-12)


def test_step_updates_in_place_and_leaves_grads_alone():
    params = make_params()
    arrays = dict(params)
    grads = make_grads(1)[0]
    grads_before = {name: g.copy() for name, g in grads.items()}
    Adam(params, lr=0.1, weight_decay=0.1).step(grads)
    SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1).step(grads)
    for name in params:
        assert params[name] is arrays[name]
        np.testing.assert_array_equal(grads[name], grads_before[name])


def test_missing_gradient_leaves_parameter_and_its_state_alone():
    params = make_params()
    before = params["b_h"].copy()
    optimizer = Adam(params, lr=0.1)
    grads = make_grads(1)[0]
    del grads["b_h"]
    optimizer.step(grads)
    np.testing.assert_array_equal(params["b_h"], before)
    assert optimizer.state["b_h"] == {}
    assert optimizer.state["W_hh"]["step"] == 1


def without_pickle(state):
    """Round-trips a state dict through JSON (scalars) and np.savez (arrays), pickle disabled."""
    arrays = {}

    def split(value, path):
        if isinstance(value, np.ndarray):
            arrays[path] = value
            return {"__array__": path}
        if isinstance(value, dict):
            return {key: split(item, f"{path}/{key}") for key, item in value.items()}
        return value

    skeleton = json.dumps(split(state, ""))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        loaded = {path: stored[path] for path in stored.files}

    def join(value):
        if isinstance(value, dict):
            if set(value) == {"__array__"}:
                return loaded[value["__array__"]]
            return {key: join(item) for key, item in value.items()}
        return value

    return join(json.loads(skeleton))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_resume_from_state_dict_is_bit_identical(config):
    ours_cls, _, kwargs = CONFIGS[config]
    grads = make_grads(STEPS)
    half = STEPS // 2

    uninterrupted = make_params()
    optimizer = ours_cls(uninterrupted, **kwargs)
    for g in grads:
        optimizer.step(g)

    interrupted = make_params()
    optimizer = ours_cls(interrupted, **kwargs)
    for g in grads[:half]:
        optimizer.step(g)
    saved_params = {name: value.copy() for name, value in interrupted.items()}
    saved_state = without_pickle(optimizer.state_dict())
    optimizer.step(grads[half])  # later steps must not reach into what was saved

    # A fresh optimizer with a different lr: the saved hyperparameters win, as in torch.
    resumed = ours_cls(saved_params, lr=123.0)
    resumed.load_state_dict(saved_state)
    for g in grads[half:]:
        resumed.step(g)

    for name in uninterrupted:
        assert np.array_equal(saved_params[name], uninterrupted[name]), name
        assert saved_params[name].tobytes() == uninterrupted[name].tobytes(), name


def test_state_dict_holds_only_plain_scalars_and_arrays():
    optimizer = Adam(make_params(), lr=0.1, betas=(0.8, 0.9))
    optimizer.step(make_grads(1)[0])
    state = optimizer.state_dict()
    assert state["optimizer"] == "Adam"
    assert state["hyperparameters"] == {"lr": 0.1, "betas": [0.8, 0.9], "eps": 1e-8,
                                        "weight_decay": 0.0}
    entry = state["state"]["W_hh"]
    assert entry["step"] == 1 and type(entry["step"]) is int
    assert entry["exp_avg"] is not optimizer.state["W_hh"]["exp_avg"]  # a copy


def test_load_state_dict_rejects_wrong_optimizer_and_shape():
    params = make_params()
    adam = Adam(params, lr=0.1)
    adam.step(make_grads(1)[0])
    state = adam.state_dict()
    with pytest.raises(RnnlabError, match="'Adam', not 'SGD'"):
        SGD(make_params(), lr=0.1).load_state_dict(state)
    state["state"]["W_hh"]["exp_avg"] = np.zeros((2, 2))
    fresh = Adam(make_params(), lr=0.1)
    with pytest.raises(RnnlabError, match=r"exp_avg.*\(2, 2\).*\(3, 3\)"):
        fresh.load_state_dict(state)
    assert fresh.state["W_hh"] == {}  # nothing half-loaded


@pytest.mark.parametrize("cls", [SGD, Adagrad, Adam])
@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan")])
def test_non_positive_lr_is_an_error_naming_it(cls, lr):
    with pytest.raises(RnnlabError, match=f"lr .*got {lr!r}"):
        cls(make_params(), lr=lr)


def test_unknown_gradient_name_is_an_error_naming_it():
    optimizer = SGD(make_params(), lr=0.1)
    with pytest.raises(RnnlabError, match="unknown parameter 'W_xy'"):
        optimizer.step({"W_xy": np.zeros((3, 2))})


def test_gradient_shape_mismatch_is_an_error_naming_both_shapes():
    params = make_params()
    before = params["W_xh"].copy()
    optimizer = Adam(params, lr=0.1)
    grads = make_grads(1)[0]
    grads["W_hh"] = np.zeros((2, 3))
    with pytest.raises(RnnlabError, match=r"'W_hh' has shape \(2, 3\).*\(3, 3\)"):
        optimizer.step(grads)
    # All gradients are checked before any parameter moves.
    np.testing.assert_array_equal(params["W_xh"], before)


def test_other_bad_hyperparameters_are_errors():
    with pytest.raises(RnnlabError, match="betas\\[1\\]"):
        Adam(make_params(), lr=0.1, betas=(0.9, 1.0))
    with pytest.raises(RnnlabError, match="nesterov"):
        SGD(make_params(), lr=0.1, nesterov=True)
    with pytest.raises(RnnlabError, match="momentum"):
        SGD(make_params(), lr=0.1, momentum=-0.5)
    with pytest.raises(RnnlabError, match="dtype int64"):
        SGD({"w": np.zeros(3, dtype=np.int64)}, lr=0.1)


def test_reference_modules_do_not_import_torch():
    code = ("import sys, rnnlab.reference.optim, rnnlab.reference.clip, rnnlab.reference.trace; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
