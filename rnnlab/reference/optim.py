"""Optimizers for the NumPy reference engine: SGD, Adagrad and Adam.

Parameters and gradients are `dict[str, np.ndarray]` keyed by parameter name. `step(grads)`
updates the parameter arrays in place, following torch.optim's update rules (the single-tensor
CPU code path) so that a model trained here and in PyTorch takes the same steps up to float
rounding.

Gradients may cover only some parameters: a parameter without a gradient is left alone and its
state (step count, moments) does not advance, as in torch where `param.grad is None`.

`state_dict()` holds only JSON-friendly scalars (str, int, float, bool, lists of floats) and
NumPy arrays, so it can be written with `json` + `np.savez` and read back without pickle.
Restoring it with `load_state_dict` and continuing gives bit-identical results to never
stopping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnnlab.errors import RnnlabError

Params = dict[str, np.ndarray]


def _is_real_scalar(value: Any) -> bool:
    # bool is an int subclass; `lr=True` is a mistake, not 1.0.
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_number(owner: str, name: str, value: Any, *, low: float, low_inclusive: bool,
                  high: float = math.inf, high_inclusive: bool = True) -> float:
    """Returns `value` as a float, or raises naming it when outside the allowed range."""
    if not _is_real_scalar(value):
        raise RnnlabError(f"{owner}: {name} must be a number, got {value!r}")
    number = float(value)
    above_low = number >= low if low_inclusive else number > low
    below_high = number <= high if high_inclusive else number < high
    if not (above_low and below_high):  # also rejects NaN
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise RnnlabError(
            f"{owner}: {name} must be in {left}{low:g}, {high:g}{right}, got {value!r}"
        )
    return number


def _check_lr(owner: str, lr: Any) -> float:
    if not _is_real_scalar(lr) or not float(lr) > 0 or not math.isfinite(float(lr)):
        raise RnnlabError(f"{owner}: lr must be a finite number > 0, got {lr!r}")
    return float(lr)


def _check_params(owner: str, params: Any) -> Params:
    if not isinstance(params, Mapping):
        raise RnnlabError(
            f"{owner}: params must be a dict of name -> numpy array, got {type(params).__name__}"
        )
    if not params:
        raise RnnlabError(f"{owner}: params is empty; there is nothing to optimize")
    for name, value in params.items():
        if not isinstance(name, str):
            raise RnnlabError(f"{owner}: parameter names must be strings, got {name!r}")
        if not isinstance(value, np.ndarray):
            raise RnnlabError(
                f"{owner}: parameter {name!r} must be a numpy array, got {type(value).__name__}"
            )
        # Updates happen in place; an integer array would silently truncate them.
        if value.dtype.kind != "f":
            raise RnnlabError(
                f"{owner}: parameter {name!r} has dtype {value.dtype}; it must be a float array"
            )
        if not value.flags.writeable:
            raise RnnlabError(f"{owner}: parameter {name!r} is read-only; it is updated in place")
    return dict(params)


class _Optimizer:
    """Shared bookkeeping: parameter/gradient checks and the state-dict format.

    Subclasses define `_update(param, grad, state)` for one parameter, `_slots` (the names of
    their per-parameter state arrays) and `_check_hyperparameters`.
    """

    _slots: ClassVar[tuple[str, ...]] = ()
    _counts_steps: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, np.ndarray], hyperparameters: dict[str, Any]):
        self._name = type(self).__name__
        self.params = _check_params(self._name, params)
        self.hyperparameters = self._check_hyperparameters(hyperparameters)
        # Per parameter: {"step": int} for optimizers that count steps, plus the slot arrays,
        # created lazily (or in __init__ where torch creates them eagerly).
        self.state: dict[str, dict[str, Any]] = {
            name: self._initial_state(param, self.hyperparameters)
            for name, param in self.params.items()
        }

    # -- subclass hooks ---------------------------------------------------------------------

    def _check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _initial_state(self, param: np.ndarray, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """State of a parameter before its first step; empty where it is created lazily."""
        return {}

    # -- public API -------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        return self.hyperparameters["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        # Learning-rate schedules assign here between steps.
        self.hyperparameters["lr"] = _check_lr(self._name, value)

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Updates every parameter named in `grads` in place; each grad has its parameter's shape.

        The caller's gradient arrays are never modified.
        """
        checked = self._check_grads(grads)
        for name, grad in checked.items():
            self._update(self.params[name], grad, self.state[name])

    def state_dict(self) -> dict[str, Any]:
        """{"optimizer": class name, "hyperparameters": {...}, "state": {param: {...}}}.

        Values are str/int/float/bool, lists of floats, or copies of NumPy arrays.
        Parameters that have no state yet are left out.
        """
        hyperparameters = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.hyperparameters.items()
        }
        state = {
            name: {key: value.copy() if isinstance(value, np.ndarray) else value
                   for key, value in entry.items()}
            for name, entry in self.state.items()
            if entry
        }
        return {"optimizer": self._name, "hyperparameters": hyperparameters, "state": state}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores hyperparameters and per-parameter state saved by `state_dict()`.

        Everything is validated before anything is changed, so a bad state dict leaves the
        optimizer as it was.
        """
        owner = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise RnnlabError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        expected_keys = {"optimizer", "hyperparameters", "state"}
        if set(state_dict) != expected_keys:
            raise RnnlabError(
                f"{owner}: keys are {sorted(state_dict)} but must be {sorted(expected_keys)}"
            )
        if state_dict["optimizer"] != self._name:
            raise RnnlabError(
                f"{owner}: state is for optimizer {state_dict['optimizer']!r}, not {self._name!r}"
            )
        saved_hyper = state_dict["hyperparameters"]
        if not isinstance(saved_hyper, Mapping) or set(saved_hyper) != set(self.hyperparameters):
            raise RnnlabError(
                f"{owner}: hyperparameters must have keys {sorted(self.hyperparameters)}, "
                f"got {sorted(saved_hyper) if isinstance(saved_hyper, Mapping) else saved_hyper!r}"
            )
        hyperparameters = self._check_hyperparameters(dict(saved_hyper))
        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise RnnlabError(f"{owner}: state must be a dict, got {type(saved_state).__name__}")
        new_state = {
            name: self._initial_state(param, hyperparameters)
            for name, param in self.params.items()
        }
        for name, entry in saved_state.items():
            new_state[self._check_name(owner, name, "state")] = self._restore_entry(
                owner, name, entry
            )
        self.hyperparameters = hyperparameters
        self.state = new_state

    # -- helpers ----------------------------------------------------------------------------

    def _check_name(self, owner: str, name: Any, what: str) -> str:
        if name not in self.params:
            raise RnnlabError(
                f"{owner}: {what} for unknown parameter {name!r}; "
                f"parameters are {', '.join(sorted(self.params))}"
            )
        return name

    def _check_grads(self, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        owner = f"{self._name}.step"
        if not isinstance(grads, Mapping):
            raise RnnlabError(
                f"{owner}: grads must be a dict of name -> numpy array, got {type(grads).__name__}"
            )
        checked = {}
        for name, grad in grads.items():
            self._check_name(owner, name, "gradient")
            array = np.asarray(grad)
            if array.dtype.kind not in "fiu":
                raise RnnlabError(
                    f"{owner}: gradient {name!r} has dtype {array.dtype}; it must be numeric"
                )
            expected = self.params[name].shape
            if array.shape != expected:
                raise RnnlabError(
                    f"{owner}: gradient {name!r} has shape {array.shape} "
                    f"but its parameter has shape {expected}"
                )
            checked[name] = array
        return checked

    def _restore_entry(self, owner: str, name: str, entry: Any) -> dict[str, Any]:
        expected_keys = set(self._slots) | ({"step"} if self._counts_steps else set())
        if not isinstance(entry, Mapping) or set(entry) != expected_keys:
            raise RnnlabError(
                f"{owner}: state for {name!r} must have keys {sorted(expected_keys)}, "
                f"got {sorted(entry) if isinstance(entry, Mapping) else entry!r}"
            )
        param = self.params[name]
        restored: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "step":
                if not _is_real_scalar(value) or int(value) != value or value < 0:
                    raise RnnlabError(
                        f"{owner}: state[{name!r}]['step'] must be an integer >= 0, got {value!r}"
                    )
                restored[key] = int(value)
                continue
            array = np.asarray(value)
            if array.shape != param.shape or array.dtype.kind not in "fiu":
                raise RnnlabError(
                    f"{owner}: state[{name!r}][{key!r}] has shape {array.shape} and dtype "
                    f"{array.dtype}; it must be a number array of shape {param.shape}"
                )
            # A private copy in the parameter's dtype: the caller's arrays stay untouched.
            restored[key] = np.array(array, dtype=param.dtype, copy=True)
        return restored


class SGD(_Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Per parameter p with gradient g (torch.optim.SGD's rule):
        g <- g + weight_decay * p
        b <- g on the first step, else momentum * b + (1 - dampening) * g
        g <- g + momentum * b if nesterov else b        (only when momentum != 0)
        p <- p - lr * g
    """

    _slots = ("momentum_buffer",)

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-3,
                 momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 dampening: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay})

    def _check_hyperparameters(self, h: dict[str, Any]) -> dict[str, Any]:
        owner = self._name
        checked = {
            "lr": _check_lr(owner, h["lr"]),
            "momentum": _check_number(owner, "momentum", h["momentum"], low=0, low_inclusive=True),
            "dampening": _check_number(owner, "dampening", h["dampening"], low=0,
                                       low_inclusive=True, high=1),
            "nesterov": h["nesterov"],
            "weight_decay": _check_number(owner, "weight_decay", h["weight_decay"], low=0,
                                          low_inclusive=True),
        }
        if not isinstance(checked["nesterov"], bool):
            raise RnnlabError(f"{owner}: nesterov must be True or False, got {h['nesterov']!r}")
        # Nesterov's look-ahead is only defined for undamped momentum (torch requires the same).
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise RnnlabError(
                f"{owner}: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={h['momentum']!r}, dampening={h['dampening']!r}"
            )
        return checked

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        h = self.hyperparameters
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * param
        if h["momentum"] != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = np.array(grad, dtype=param.dtype, copy=True)
                state["momentum_buffer"] = buffer
            else:
                buffer *= h["momentum"]
                buffer += (1 - h["dampening"]) * grad
            grad = grad + h["momentum"] * buffer if h["nesterov"] else buffer
        param -= h["lr"] * grad


class Adagrad(_Optimizer):
    """Adagrad: per-entry step sizes shrinking with the running sum of squared gradients.

    Per parameter p with gradient g at step t = 1, 2, ... (torch.optim.Adagrad's rule):
        g <- g + weight_decay * p
        s <- s + g * g                                  (s starts at initial_accumulator_value)
        p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    eps defaults to torch's 1e-10.
    """

    _slots = ("sum",)
    _counts_steps = True

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps})

    def _check_hyperparameters(self, h: dict[str, Any]) -> dict[str, Any]:
        owner = self._name
        checked = {"lr": _check_lr(owner, h["lr"])}
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            checked[key] = _check_number(owner, key, h[key], low=0, low_inclusive=True)
        return checked

    def _initial_state(self, param: np.ndarray, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        # torch creates the accumulator up front, filled with initial_accumulator_value.
        initial = hyperparameters["initial_accumulator_value"]
        return {"step": 0, "sum": np.full_like(param, initial)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        h = self.hyperparameters
        state["step"] += 1
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * param
        decayed_lr = h["lr"] / (1 + (state["step"] - 1) * h["lr_decay"])
        squared_sum = state["sum"]
        squared_sum += grad * grad
        param -= decayed_lr * (grad / (np.sqrt(squared_sum) + h["eps"]))


class Adam(_Optimizer):
    """Adam with L2 weight decay added to the gradient (not decoupled AdamW).

    Per parameter p with gradient g at step t = 1, 2, ... (torch.optim.Adam's rule):
        g <- g + weight_decay * p
        m <- beta1 * m + (1 - beta1) * g                 (m, v start at 0)
        v <- beta2 * v + (1 - beta2) * g * g
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _slots = ("exp_avg", "exp_avg_sq")
    _counts_steps = True

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    def _check_hyperparameters(self, h: dict[str, Any]) -> dict[str, Any]:
        owner = self._name
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise RnnlabError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _check_lr(owner, h["lr"]),
            "betas": tuple(
                _check_number(owner, f"betas[{i}]", beta, low=0, low_inclusive=True,
                              high=1, high_inclusive=False)
                for i, beta in enumerate(betas)
            ),
            "eps": _check_number(owner, "eps", h["eps"], low=0, low_inclusive=True),
            "weight_decay": _check_number(owner, "weight_decay", h["weight_decay"], low=0,
                                          low_inclusive=True),
        }

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        h = self.hyperparameters
        beta1, beta2 = h["betas"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
        state["step"] += 1
        step = state["step"]
        if h["weight_decay"] != 0:
            grad = grad + h["weight_decay"] * param
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # torch writes the first moment as lerp(m, g, 1 - beta1) = m + (1 - beta1) * (g - m).
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * (grad * grad)
        step_size = h["lr"] / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denominator = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + h["eps"]
        param -= step_size * (exp_avg / denominator)
