"""Recurrent cells: the arithmetic of ONE time step, forward and backward.

A cell knows how to turn (input at time t, state at time t-1) into the state at time t, and
how to push a gradient back through that one step. It does not loop over time: the loop lives
in `network.py`, which is what lets truncated BPTT, bidirectional layers and stacking be written
once for every cell type.

Parameters use PyTorch's names, shapes and gate order, so the arrays of a `torch.nn.RNN`,
`nn.LSTM` or `nn.GRU` layer copy straight across (G is the number of gates, H the hidden size,
D the input size):

    weight_ih  (G*H, D)     weight_hh  (G*H, H)     bias_ih  (G*H,)     bias_hh  (G*H,)

    RNN   G = 1   h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh or relu
    LSTM  G = 4   gates in the order i, f, g, o
                  i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.)
                  c' = f * c + i * g
                  h' = o * tanh(c')
    GRU   G = 3   gates in the order r, z, n
                  r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
                  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
                  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    # r multiplies AFTER the bias
                  h' = (1 - z) * n + z * h

minGRU and minLSTM (Feng et al. 2024) read h only element-wise, so they have no weight_hh and
one bias (their layout: weight_ih (G*H, D), bias_ih (G*H,)); g(x) = x + 1/2 for x >= 0, sigmoid(x)
below, is their positive candidate (as in rnnlab.nn.cells.minimal):

    minGRU   G = 2   blocks z, candidate:  z = sigmoid(k_z)
                  h' = (1 - z) * h + z * g(k_h)
    minLSTM  G = 3   blocks f, i, candidate:  d = log sigmoid(k_f) - log sigmoid(k_i)
                  h' = sigmoid(d) * h + sigmoid(-d) * g(k_h)     (= f/(f+i) * h + i/(f+i) * g)

How the work is split, and why
------------------------------
The input projection `x_t @ weight_ih.T + bias_ih` does not depend on the previous state, so the
network computes it for ALL time steps in one matrix product (`project_inputs`) before the loop.
Inside the loop only the recurrent part remains (`step_forward`).

Going backwards, `step_backward` returns the gradient with respect to the gate pre-activations
of that step, split into the part that reaches the input projection (`d_gates_x`) and the part
that reaches the hidden projection (`d_gates_h`). These are the same for RNN and LSTM; for GRU
they differ in the n block, because r multiplies the hidden projection. The network stacks them
over time, and the weight gradients then need one matrix product each
(`parameter_gradients`) instead of a sum of T outer products.

A state is a tuple of (B, H) arrays: `(h,)` for RNN and GRU, `(h, c)` for LSTM.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rnnlab.errors import RnnlabError

Params = Mapping[str, np.ndarray]
State = tuple[np.ndarray, ...]

PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _matmul_last_axis(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (..., K) @ w (K, N) -> (..., N) as ONE 2-D product.

    NumPy runs `(B, T, K) @ (K, N)` as B separate products; flattening the leading axes first
    hands BLAS one large GEMM, measurably faster for the small B of a char-LM.
    """
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function that never overflows: exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log sigmoid(x) = -log(1 + exp(-x)), without overflow or log(0)."""
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


class RecurrentCell:
    """What every cell shares: shapes, initialisation, the input projection, weight gradients.

    Subclasses set `num_gates` and `state_names` and implement `step_forward` / `step_backward`.
    A cell without a hidden-to-hidden matrix (minGRU, minLSTM) sets `recurrent_matrix = False`:
    its parameters are weight_ih and bias_ih, and its step_backward returns None for d_gates_h.

    A cell may own parameters (`cell.params`, handy for single-step experiments) or be given them
    on every call (what the network does, since it keeps all parameters in one flat dict).
    """

    num_gates: int = 1
    state_names: tuple[str, ...] = ("h",)
    recurrent_matrix: bool = True

    def __init__(self, input_size: int, hidden_size: int, params: Params | None = None):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.params = params

    # ----------------------------------------------------------------------------- parameters

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        gates_times_hidden = self.num_gates * self.hidden_size
        if not self.recurrent_matrix:
            return {"weight_ih": (gates_times_hidden, self.input_size),
                    "bias_ih": (gates_times_hidden,)}
        return {
            "weight_ih": (gates_times_hidden, self.input_size),
            "weight_hh": (gates_times_hidden, self.hidden_size),
            "bias_ih": (gates_times_hidden,),
            "bias_hh": (gates_times_hidden,),
        }

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> dict[str, np.ndarray]:
        """Fresh parameters drawn like PyTorch: every entry uniform in [-1/sqrt(H), 1/sqrt(H)]
        (in [-1/sqrt(D), 1/sqrt(D)], nn.Linear's, for a cell without weight_hh, as rnnlab's
        torch layer of minGRU/minLSTM draws them)."""
        bound = 1.0 / np.sqrt(self.hidden_size if self.recurrent_matrix else self.input_size)
        return {
            name: rng.uniform(-bound, bound, size=shape).astype(dtype)
            for name, shape in self.parameter_shapes().items()
        }

    def zero_state(self, batch_size: int, dtype=np.float64) -> State:
        return tuple(np.zeros((batch_size, self.hidden_size), dtype=dtype) for _ in self.state_names)

    def _resolve(self, params: Params | None) -> Params:
        if params is not None:
            return params
        if self.params is None:
            raise RnnlabError(
                f"{type(self).__name__} has no parameters: pass params=... (a dict with "
                f"{', '.join(self.parameter_shapes())}) or set cell.params = cell.init_params(rng)"
            )
        return self.params

    # ------------------------------------------------------------------------------- forward

    def project_inputs(self, x: np.ndarray, params: Params | None = None) -> np.ndarray:
        """x @ weight_ih.T + bias_ih for one step (B, D) or all steps at once (B, T, D) -> (..., G*H)."""
        params = self._resolve(params)
        return _matmul_last_axis(x, params["weight_ih"].T) + params["bias_ih"]

    def forward(self, x_t: np.ndarray, state: State, params: Params | None = None) -> State:
        """One plain time step: x_t (B, D), state tuple of (B, H) -> new state tuple of (B, H)."""
        params = self._resolve(params)
        new_state, _ = self.step_forward(self.project_inputs(x_t, params), state, params)
        return new_state

    def step_forward(self, x_proj_t: np.ndarray, state: State, params: Params):
        """One step given the precomputed input projection x_proj_t (B, G*H).

        Returns (new_state, step_cache); step_cache holds what step_backward needs.
        """
        raise NotImplementedError

    def _hidden_projection(self, h: np.ndarray, params: Params) -> np.ndarray:
        return h @ params["weight_hh"].T + params["bias_hh"]  # (B, G*H)

    # ------------------------------------------------------------------------------ backward

    def step_backward(self, d_state: State, step_cache, params: Params):
        """Push the gradient of the step's output state back through the step.

        d_state: gradient w.r.t. the new state, tuple of (B, H).
        Returns (d_gates_x, d_gates_h, d_prev_state):
            d_gates_x     (B, G*H)  gradient w.r.t. the input projection  x W_ih^T + b_ih
            d_gates_h     (B, G*H)  gradient w.r.t. the hidden projection h W_hh^T + b_hh
            d_prev_state  tuple of (B, H), gradient w.r.t. the previous state
        """
        raise NotImplementedError

    @staticmethod
    def parameter_gradients(
        x: np.ndarray, h_prev: np.ndarray, d_gates_x: np.ndarray, d_gates_h: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Weight and bias gradients from stacked per-step quantities, one matrix product each.

        x (B, T, D) layer inputs, h_prev (B, T, H) the state h entering each step,
        d_gates_x / d_gates_h (B, T, G*H) from step_backward, stacked over time.
        Summing over batch and time is the same as flattening both into one axis of B*T rows.
        """
        gh = d_gates_x.shape[-1]
        dgx = d_gates_x.reshape(-1, gh)  # (B*T, G*H)
        if d_gates_h is None:  # no weight_hh (minGRU, minLSTM)
            return {"weight_ih": dgx.T @ x.reshape(-1, x.shape[-1]), "bias_ih": dgx.sum(axis=0)}
        dgh = d_gates_h.reshape(-1, gh)  # (B*T, G*H)
        return {
            "weight_ih": dgx.T @ x.reshape(-1, x.shape[-1]),  # (G*H, D)
            "weight_hh": dgh.T @ h_prev.reshape(-1, h_prev.shape[-1]),  # (G*H, H)
            "bias_ih": dgx.sum(axis=0),  # (G*H,)
            "bias_hh": dgh.sum(axis=0),  # (G*H,)
        }

    def input_gradient(self, d_gates_x: np.ndarray, params: Params | None = None) -> np.ndarray:
        """Gradient w.r.t. the layer input: (B, T, G*H) @ (G*H, D) -> (B, T, D), all steps at once."""
        return _matmul_last_axis(d_gates_x, self._resolve(params)["weight_ih"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"


class RNNCell(RecurrentCell):
    """Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh) with act = tanh or relu."""

    num_gates = 1
    state_names = ("h",)

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 params: Params | None = None):
        if nonlinearity not in ("tanh", "relu"):
            raise RnnlabError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, params)
        self.nonlinearity = nonlinearity

    def step_forward(self, x_proj_t, state, params):
        (h,) = state
        pre_activation = x_proj_t + self._hidden_projection(h, params)  # (B, H)
        if self.nonlinearity == "tanh":
            h_new = np.tanh(pre_activation)
        else:
            h_new = np.maximum(pre_activation, 0)
        return (h_new,), h_new

    def step_backward(self, d_state, step_cache, params):
        (d_h_new,) = d_state
        h_new = step_cache
        # Both derivatives can be read off the output: tanh' = 1 - tanh^2, relu' = [output > 0].
        if self.nonlinearity == "tanh":
            d_pre = d_h_new * (1 - h_new * h_new)
        else:
            d_pre = d_h_new * (h_new > 0)
        d_h_prev = d_pre @ params["weight_hh"]  # (B, H)
        return d_pre, d_pre, (d_h_prev,)

    def __repr__(self) -> str:
        return (f"RNNCell(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"nonlinearity={self.nonlinearity!r})")


class LSTMCell(RecurrentCell):
    """Long short-term memory, gates i, f, g, o (PyTorch order); state (h, c)."""

    num_gates = 4
    state_names = ("h", "c")

    def step_forward(self, x_proj_t, state, params):
        h, c = state
        gates = x_proj_t + self._hidden_projection(h, params)  # (B, 4H)
        gi, gf, gg, go = np.split(gates, 4, axis=1)
        i, f, g, o = sigmoid(gi), sigmoid(gf), np.tanh(gg), sigmoid(go)
        c_new = f * c + i * g
        tanh_c_new = np.tanh(c_new)
        h_new = o * tanh_c_new
        return (h_new, c_new), (c, i, f, g, o, tanh_c_new)

    def step_backward(self, d_state, step_cache, params):
        d_h_new, d_c_new = d_state
        c, i, f, g, o, tanh_c_new = step_cache
        d_o = d_h_new * tanh_c_new
        # c_new reaches the loss directly (d_c_new) and through h_new = o * tanh(c_new).
        d_c = d_c_new + d_h_new * o * (1 - tanh_c_new * tanh_c_new)
        d_i, d_f, d_g = d_c * g, d_c * c, d_c * i
        d_c_prev = d_c * f
        d_gates = np.concatenate(
            [d_i * i * (1 - i), d_f * f * (1 - f), d_g * (1 - g * g), d_o * o * (1 - o)], axis=1
        )  # (B, 4H), pre-activation gradients in gate order i, f, g, o
        d_h_prev = d_gates @ params["weight_hh"]  # (B, H)
        return d_gates, d_gates, (d_h_prev, d_c_prev)


class GRUCell(RecurrentCell):
    """Gated recurrent unit, gates r, z, n, with PyTorch's n = tanh(x_n + r * (W_hn h + b_hn))."""

    num_gates = 3
    state_names = ("h",)

    def step_forward(self, x_proj_t, state, params):
        (h,) = state
        x_r, x_z, x_n = np.split(x_proj_t, 3, axis=1)
        h_r, h_z, h_n = np.split(self._hidden_projection(h, params), 3, axis=1)
        r = sigmoid(x_r + h_r)
        z = sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h_new = (1 - z) * n + z * h
        return (h_new,), (h, r, z, n, h_n)

    def step_backward(self, d_state, step_cache, params):
        (d_h_new,) = d_state
        h, r, z, n, h_n = step_cache
        d_n = d_h_new * (1 - z)
        d_z = d_h_new * (h - n)
        d_n_pre = d_n * (1 - n * n)
        d_r = d_n_pre * h_n
        d_r_pre = d_r * r * (1 - r)
        d_z_pre = d_z * z * (1 - z)
        d_gates_x = np.concatenate([d_r_pre, d_z_pre, d_n_pre], axis=1)  # (B, 3H)
        # The hidden projection's n block enters as r * h_n, so its gradient is scaled by r.
        d_gates_h = np.concatenate([d_r_pre, d_z_pre, d_n_pre * r], axis=1)  # (B, 3H)
        # h reaches h_new directly (z * h) and through all three hidden projections.
        d_h_prev = d_h_new * z + d_gates_h @ params["weight_hh"]  # (B, H)
        return d_gates_x, d_gates_h, (d_h_prev,)


def positive_candidate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(g(x), g'(x)): g(x) = x + 1/2 for x >= 0, sigmoid(x) below (positive, continuous)."""
    s = sigmoid(x)
    non_negative = x >= 0
    return np.where(non_negative, x + 0.5, s), np.where(non_negative, 1.0, s * (1 - s))


class MinGRUCell(RecurrentCell):
    """minGRU (Feng et al. 2024): blocks z, candidate from x alone; h' = (1 - z) h + z g(k_h).

    As h' = a * h + b with a = sigmoid(-k_z) = 1 - z, b = z * g(k_h):
        d k_z = (dh' * (g - h)) * z (1 - z),   d k_h = dh' * z * g'(k_h),   d h = dh' * (1 - z).
    """

    num_gates = 2
    state_names = ("h",)
    recurrent_matrix = False

    def step_forward(self, x_proj_t, state, params):
        (h,) = state
        k_z, k_h = np.split(x_proj_t, 2, axis=1)
        keep, z = sigmoid(-k_z), sigmoid(k_z)  # 1 - z without cancellation, and z
        candidate, slope = positive_candidate(k_h)
        h_new = keep * h + z * candidate
        return (h_new,), (h, keep, z, candidate, slope)

    def step_backward(self, d_state, step_cache, params):
        (d_h_new,) = d_state
        h, keep, z, candidate, slope = step_cache
        d_k_z = d_h_new * (candidate - h) * z * keep
        d_k_h = d_h_new * z * slope
        return np.concatenate([d_k_z, d_k_h], axis=1), None, (d_h_new * keep,)


class MinLSTMCell(RecurrentCell):
    """minLSTM (Feng et al. 2024): blocks f, i, candidate from x alone, normalised gates.

    With d = log sigmoid(k_f) - log sigmoid(k_i), a = sigmoid(d) = f / (f + i), and
    h' = a * h + (1 - a) * g(k_h):
        d d = dh' * (h - g) * a (1 - a),   d k_f = d d * (1 - sigmoid(k_f)),
        d k_i = -d d * (1 - sigmoid(k_i)),  d k_h = dh' * (1 - a) * g'(k_h),  d h = dh' * a.
    """

    num_gates = 3
    state_names = ("h",)
    recurrent_matrix = False

    def step_forward(self, x_proj_t, state, params):
        (h,) = state
        k_f, k_i, k_h = np.split(x_proj_t, 3, axis=1)
        d = log_sigmoid(k_f) - log_sigmoid(k_i)
        keep, take = sigmoid(d), sigmoid(-d)  # f/(f+i) and i/(f+i)
        candidate, slope = positive_candidate(k_h)
        h_new = keep * h + take * candidate
        return (h_new,), (h, keep, take, candidate, slope, k_f, k_i)

    def step_backward(self, d_state, step_cache, params):
        (d_h_new,) = d_state
        h, keep, take, candidate, slope, k_f, k_i = step_cache
        d_d = d_h_new * (h - candidate) * keep * take
        # d/dk log sigmoid(k) = 1 - sigmoid(k) = sigmoid(-k)
        d_k_f = d_d * sigmoid(-k_f)
        d_k_i = -d_d * sigmoid(-k_i)
        d_k_h = d_h_new * take * slope
        return np.concatenate([d_k_f, d_k_i, d_k_h], axis=1), None, (d_h_new * keep,)


CELL_TYPES = ("rnn", "lstm", "gru", "mingru", "minlstm")


def make_cell(cell_type: str, input_size: int, hidden_size: int,
              nonlinearity: str = "tanh") -> RecurrentCell:
    """Build a cell by name: 'rnn' (with nonlinearity 'tanh' or 'relu'), 'lstm', 'gru', 'mingru'
    or 'minlstm'."""
    if cell_type == "rnn":
        return RNNCell(input_size, hidden_size, nonlinearity)
    if nonlinearity != "tanh":
        raise RnnlabError(
            f"nonlinearity={nonlinearity!r} only applies to cell_type='rnn'; "
            f"{cell_type!r} has fixed nonlinearities (leave it at 'tanh')"
        )
    if cell_type == "lstm":
        return LSTMCell(input_size, hidden_size)
    if cell_type == "gru":
        return GRUCell(input_size, hidden_size)
    if cell_type == "mingru":
        return MinGRUCell(input_size, hidden_size)
    if cell_type == "minlstm":
        return MinLSTMCell(input_size, hidden_size)
    raise RnnlabError(f"cell_type must be one of {', '.join(map(repr, CELL_TYPES))}, got {cell_type!r}")
