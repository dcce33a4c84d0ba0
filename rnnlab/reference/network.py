"""A stacked, optionally bidirectional recurrent network with exact (and truncated) BPTT.

    tokens (B, T) --embedding--> x (B, T, E)          or dense x (B, T, D)
    x --layer 0--> (B, T, H * dirs) --layer 1--> ... --layer L-1--> top (B, T, H * dirs)
    top --head (optional linear)--> outputs (B, T, output_size)

Everything is batch-first. A bidirectional layer runs one cell left-to-right and another
right-to-left over the same input and concatenates their outputs as [forward, backward], so
every layer after the first sees 2H inputs, exactly like `torch.nn.RNN/LSTM/GRU`.

All parameters live in ONE flat dict, `network.params`, whose names are those of a PyTorch
module with the children `embedding` (nn.Embedding), `rnn` (nn.RNN/LSTM/GRU with
batch_first=True) and `head` (nn.Linear):

    embedding.weight                 (V, E)
    rnn.weight_ih_l{k}[_reverse]     (G*H, input size of layer k)
    rnn.weight_hh_l{k}[_reverse]     (G*H, H)      (not for mingru / minlstm)
    rnn.bias_ih_l{k}[_reverse]       (G*H,)
    rnn.bias_hh_l{k}[_reverse]       (G*H,)        (not for mingru / minlstm)
    head.weight                      (output_size, H * dirs)
    head.bias                        (output_size,)

so `state_dict()` / `load_state_dict()` exchange weights with such a module (after converting
tensors to NumPy arrays and back; this file never imports torch). For mingru / minlstm the
`rnn` child is rnnlab's parallel-scan layer (`make_layer("mingru", ...)`, a ScanRNN).

The computation runs in the dtype of the parameters (float32 or float64); inputs and
gradients handed in must have that same dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from rnnlab.errors import RnnlabError
from rnnlab.reference.cells import RecurrentCell, State, _matmul_last_axis, make_cell

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class DirectionCache:
    """What one direction of one layer remembers from the forward pass."""

    layer_input: np.ndarray  # (B, T, D_layer), shared by both directions of a layer
    h_prev: np.ndarray  # (B, T, H): the h entering step t, needed for dW_hh
    step_caches: list  # step_caches[t] from cell.step_forward, indexed by time t
    reverse: bool


@dataclass
class ForwardCache:
    """Everything `backward` needs; returned by `forward`, opaque to users."""

    inputs: np.ndarray  # token ids (B, T) or dense x (B, T, D)
    layers: list[list[DirectionCache]]  # layers[layer][direction]
    top: np.ndarray  # (B, T, H * dirs): input of the head (or the outputs when there is none)
    output_shape: tuple[int, int, int]


@dataclass
class Gradients:
    """Result of `backward`.

    params  gradient for every entry of `network.params`, same names and shapes
    h0      (num_layers * dirs, B, H) gradient w.r.t. the initial hidden state
    c0      same for the initial cell state (LSTM only, else None)
    inputs  (B, T, D) gradient w.r.t. dense inputs (None for token input: the embedding
            gradient is params['embedding.weight'])
    """

    params: dict[str, np.ndarray] = field(default_factory=dict)
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None
    inputs: np.ndarray | None = None


class RecurrentNetwork:
    """Embedding or dense input -> stacked (bi)directional RNN/LSTM/GRU -> optional linear head.

    Give either `input_size` (dense input (B, T, input_size)) or `vocab_size` and
    `embedding_dim` (integer token ids (B, T)). `output_size=None` means no head: the outputs are
    the top layer's hidden states (B, T, H * dirs).
    """

    def __init__(
        self,
        cell_type: str,
        hidden_size: int,
        *,
        input_size: int | None = None,
        vocab_size: int | None = None,
        embedding_dim: int | None = None,
        num_layers: int = 1,
        bidirectional: bool = False,
        output_size: int | None = None,
        nonlinearity: str = "tanh",
        dtype=np.float64,
        seed: int | np.random.Generator = 0,
    ):
        _check_positive_int("hidden_size", hidden_size)
        _check_positive_int("num_layers", num_layers)
        if output_size is not None:
            _check_positive_int("output_size", output_size)
        if (input_size is None) == (vocab_size is None):
            raise RnnlabError(
                "give exactly one of input_size (dense input (B, T, D)) or vocab_size "
                f"(token ids (B, T)); got input_size={input_size!r}, vocab_size={vocab_size!r}"
            )
        if vocab_size is not None:
            _check_positive_int("vocab_size", vocab_size)
            if embedding_dim is None:
                raise RnnlabError("vocab_size was given, so embedding_dim is needed as well")
            _check_positive_int("embedding_dim", embedding_dim)
        else:
            _check_positive_int("input_size", input_size)
            if embedding_dim is not None:
                raise RnnlabError("embedding_dim only applies with vocab_size (token input)")
        dtype = np.dtype(dtype)
        if dtype not in SUPPORTED_DTYPES:
            raise RnnlabError(f"dtype must be float32 or float64, got {dtype}")

        self.cell_type = cell_type
        self.nonlinearity = nonlinearity
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.uses_embedding = vocab_size is not None
        self.input_size = embedding_dim if self.uses_embedding else input_size
        self.output_size = output_size
        self.top_size = self.hidden_size * self.num_directions

        # One cell object per layer: it holds only shapes and arithmetic, so both directions of
        # a layer share it; their parameters are looked up by name in self.params on each call.
        self.cells: list[RecurrentCell] = []
        for layer in range(self.num_layers):
            layer_input_size = self.input_size if layer == 0 else self.top_size
            self.cells.append(make_cell(cell_type, layer_input_size, self.hidden_size, nonlinearity))
        self.state_names = self.cells[0].state_names  # ("h",) or ("h", "c")

        self.params: dict[str, np.ndarray] = self._init_params(np.random.default_rng(seed), dtype)

    # =============================================================================== parameters

    @staticmethod
    def rnn_param_name(name: str, layer: int, direction: int) -> str:
        """PyTorch's name, e.g. ('weight_ih', 1, 1) -> 'rnn.weight_ih_l1_reverse'."""
        return f"rnn.{name}_l{layer}" + ("_reverse" if direction == 1 else "")

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in PyTorch's state_dict order."""
        shapes: dict[str, tuple[int, ...]] = {}
        if self.uses_embedding:
            shapes["embedding.weight"] = (self.vocab_size, self.embedding_dim)
        for layer, cell in enumerate(self.cells):
            for direction in range(self.num_directions):
                for name, shape in cell.parameter_shapes().items():
                    shapes[self.rnn_param_name(name, layer, direction)] = shape
        if self.output_size is not None:
            shapes["head.weight"] = (self.output_size, self.top_size)
            shapes["head.bias"] = (self.output_size,)
        return shapes

    def _init_params(self, rng: np.random.Generator, dtype) -> dict[str, np.ndarray]:
        """PyTorch's default initialisation, drawn from a seeded generator."""
        params: dict[str, np.ndarray] = {}
        if self.uses_embedding:
            params["embedding.weight"] = rng.standard_normal((self.vocab_size, self.embedding_dim))
        for layer, cell in enumerate(self.cells):
            for direction in range(self.num_directions):
                for name, value in cell.init_params(rng, dtype).items():
                    params[self.rnn_param_name(name, layer, direction)] = value
        if self.output_size is not None:
            # nn.Linear's default works out to uniform in +-1/sqrt(fan_in) for weight and bias.
            bound = 1.0 / np.sqrt(self.top_size)
            params["head.weight"] = rng.uniform(-bound, bound, (self.output_size, self.top_size))
            params["head.bias"] = rng.uniform(-bound, bound, (self.output_size,))
        return {name: value.astype(dtype) for name, value in params.items()}

    @property
    def dtype(self) -> np.dtype:
        """The computation dtype: that of the parameters."""
        return self.params[self.rnn_param_name("weight_ih", 0, 0)].dtype

    def layer_params(self, layer: int, direction: int) -> dict[str, np.ndarray]:
        """The arrays of one layer and direction (PyTorch's four, or weight_ih and bias_ih for
        minGRU/minLSTM), under the cell's short names."""
        return {name: self.params[self.rnn_param_name(name, layer, direction)]
                for name in self.cells[layer].parameter_shapes()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter under PyTorch's names (convert with torch.from_numpy)."""
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace all parameters from a PyTorch-style state_dict of NumPy arrays.

        The keys must be exactly those of `parameter_shapes()`, each with the expected shape.
        Values are copied and cast to the network's dtype.
        """
        expected = self.parameter_shapes()
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in expected]
        if missing or unexpected:
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            raise RnnlabError(
                f"weights do not match the network: {'; '.join(problems)}. "
                f"Expected exactly these keys: {list(expected)}"
            )
        loaded = {}
        for name, shape in expected.items():
            value = np.asarray(state[name])
            if value.shape != shape:
                raise RnnlabError(f"weight {name!r} has shape {value.shape} but the network expects {shape}")
            if not np.issubdtype(value.dtype, np.floating):
                raise RnnlabError(f"weight {name!r} has dtype {value.dtype}; expected floating point")
            loaded[name] = value.astype(self.dtype, copy=True)
        self.params = loaded

    def astype(self, dtype) -> "RecurrentNetwork":
        """A copy of this network whose parameters (and so computation) use `dtype`."""
        dtype = np.dtype(dtype)
        if dtype not in SUPPORTED_DTYPES:
            raise RnnlabError(f"dtype must be float32 or float64, got {dtype}")
        copy = object.__new__(RecurrentNetwork)
        copy.__dict__.update(self.__dict__)
        copy.params = {name: value.astype(dtype) for name, value in self.params.items()}
        return copy

    # ================================================================================== forward

    def forward(self, inputs: np.ndarray, initial_state=None):
        """Run the whole sequence.

        inputs         token ids (B, T) of an integer dtype, or dense x (B, T, input_size)
        initial_state  None (zeros), or like PyTorch: h0 (num_layers * dirs, B, H) for RNN/GRU,
                       a tuple (h0, c0) for LSTM. Row `layer * dirs + direction` belongs to
                       that layer and direction.

        Returns (outputs (B, T, out), final_state, cache); final_state has the layout of
        initial_state (h_n, or (h_n, c_n) for LSTM) and cache is for `backward`.
        """
        x = self._embed_or_check_dense(inputs)  # (B, T, D)
        batch_size = x.shape[0]
        initial = self._parse_initial_state(initial_state, batch_size)  # per state: (L*dirs, B, H)

        layer_input = x
        layer_caches: list[list[DirectionCache]] = []
        final_rows: list[State] = []  # one state tuple per (layer, direction), PyTorch's row order
        for layer, cell in enumerate(self.cells):
            direction_outputs, direction_caches = [], []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                outputs, final, cache = _run_direction(
                    cell,
                    self.layer_params(layer, direction),
                    layer_input,
                    tuple(state[row] for state in initial),
                    reverse=direction == 1,
                )
                direction_outputs.append(outputs)
                direction_caches.append(cache)
                final_rows.append(final)
            layer_input = np.concatenate(direction_outputs, axis=2)  # (B, T, H * dirs)
            layer_caches.append(direction_caches)

        top = layer_input  # (B, T, H * dirs)
        if self.output_size is not None:
            outputs = _matmul_last_axis(top, self.params["head.weight"].T) + self.params["head.bias"]  # (B, T, O)
        else:
            outputs = top
        final_state = tuple(
            np.stack([row[k] for row in final_rows]) for k in range(len(self.state_names))
        )  # per state: (L*dirs, B, H)
        cache = ForwardCache(inputs=inputs, layers=layer_caches, top=top, output_shape=outputs.shape)
        return outputs, self.join_state(final_state), cache

    def join_state(self, state: tuple[np.ndarray, ...]):
        """A tuple with one array per state name -> PyTorch's form: h alone, or (h, c) for LSTM."""
        return state if len(self.state_names) == 2 else state[0]

    def _embed_or_check_dense(self, inputs) -> np.ndarray:
        if not isinstance(inputs, np.ndarray):
            raise RnnlabError(f"inputs must be a numpy array, got {type(inputs).__name__}")
        if self.uses_embedding:
            if inputs.ndim != 2:
                raise RnnlabError(
                    f"token ids have shape {inputs.shape} but the network expects (B, T) integers"
                )
            if not np.issubdtype(inputs.dtype, np.integer):
                raise RnnlabError(f"token ids must have an integer dtype, got {inputs.dtype}")
            _check_nonempty(inputs.shape, "token ids")
            low, high = int(inputs.min()), int(inputs.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                raise RnnlabError(
                    f"token id {bad} is out of range: expected ids in [0, {self.vocab_size - 1}] "
                    f"(vocab_size is {self.vocab_size})"
                )
            return self.params["embedding.weight"][inputs]  # (B, T, E)
        if inputs.ndim != 3 or inputs.shape[2] != self.input_size:
            raise RnnlabError(
                f"x has shape {inputs.shape} but the network expects (B, T, {self.input_size}): "
                f"input_size is {self.input_size}"
            )
        _check_nonempty(inputs.shape, "x")
        if inputs.dtype != self.dtype:
            raise RnnlabError(
                f"x has dtype {inputs.dtype} but the network's parameters are {self.dtype}; "
                f"convert with x.astype(np.{self.dtype})"
            )
        return inputs

    def state_shape(self, batch_size: int) -> tuple[int, int, int]:
        """Shape of h0 / c0 / h_n / c_n: (num_layers * num_directions, B, hidden_size)."""
        return (self.num_layers * self.num_directions, batch_size, self.hidden_size)

    def _parse_initial_state(self, initial_state, batch_size: int) -> tuple[np.ndarray, ...]:
        shape = self.state_shape(batch_size)
        if initial_state is None:
            return tuple(np.zeros(shape, dtype=self.dtype) for _ in self.state_names)
        parts = self.split_state(initial_state, "initial_state")
        for name, part in zip(self.state_names, parts):
            self._check_state_array(part, f"initial_state {name}0", shape)
        return parts

    def split_state(self, value, what: str = "state") -> tuple:
        """PyTorch's form, h (RNN/GRU) or (h, c) (LSTM) -> a tuple with one entry per state name."""
        if len(self.state_names) == 2:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise RnnlabError(f"{what} for an LSTM must be a tuple (h, c), got {type(value).__name__}")
            return tuple(value)
        if isinstance(value, (tuple, list)):
            raise RnnlabError(
                f"{what} for a {self.cell_type.upper()} must be a single array h, got a {type(value).__name__}"
            )
        return (value,)

    def _check_state_array(self, value, what: str, shape: tuple[int, ...]) -> None:
        if not isinstance(value, np.ndarray):
            raise RnnlabError(f"{what} must be a numpy array of shape {shape}, got {type(value).__name__}")
        if value.shape != shape:
            raise RnnlabError(
                f"{what} has shape {value.shape} but expected {shape} "
                "= (num_layers * num_directions, B, hidden_size)"
            )
        if value.dtype != self.dtype:
            raise RnnlabError(f"{what} has dtype {value.dtype} but the network's parameters are {self.dtype}")

    # ================================================================================= backward

    def backward(self, d_outputs, cache: ForwardCache, d_final_state=None, truncate: int | None = None
                 ) -> Gradients:
        """Backpropagation through time: gradients of a loss L given dL/d(outputs).

        d_outputs      (B, T, out): dL/d outputs, or None when L depends on the final state only
        cache          what `forward` returned
        d_final_state  None, or dL/d final_state in its layout (h_n, or (dh_n, dc_n) for LSTM,
                       where either part may be None)
        truncate       None for exact BPTT, or k >= 1 for truncated BPTT (below)

        Returns `Gradients` (params, h0, c0, inputs).

        Truncated BPTT with k
        ---------------------
        Time is cut into windows of k steps: [0, k), [k, 2k), ... (the last one shorter when
        k does not divide T). Every forward VALUE is unchanged; only the gradient that flows
        through the recurrent state across a window boundary is dropped. This equals autograd
        on a model in which the state is `.detach()`ed where it crosses into a new window.
        Example, T = 7, k = 3; the numbers are time steps, x marks a cut:

            forward direction
            values:   h0 --> 0 --> 1 --> 2 ---> 3 --> 4 --> 5 ---> 6
            grads:    h0 <-- 0 <-- 1 <-- 2  x   3 <-- 4 <-- 5  x   6
                             '-window 1--'      '-window 2--'      | window 3

        In this direction a loss at step 4 reaches steps 3 and 4 only; h0 (and c0) receive gradient
        from window 1 alone. Gradients that flow upward between layers, into the head and into
        the inputs are never cut, and every layer cuts at the same boundaries.

        Bidirectional layers: the reverse direction uses the SAME windows of absolute time.
        It walks t = T-1 ... 0, and the state it passes from step jk to step jk-1 is cut:

            reverse direction
            values:   0 <-- 1 <-- 2 <--- 3 <-- 4 <-- 5 <--- 6 <-- h0_reverse
            grads:    0 --> 1 --> 2  x   3 --> 4 --> 5  x   6 --> h0_reverse
                      '-window 1--'      '-window 2--'      | window 3

        i.e. each window is a self-contained chunk for both directions, and the reverse
        direction's initial state gets gradient from the last window alone.
        """
        if not isinstance(cache, ForwardCache):
            raise RnnlabError(f"cache must be the third value returned by forward, got {type(cache).__name__}")
        if truncate is not None and (
            not isinstance(truncate, (int, np.integer)) or isinstance(truncate, bool) or truncate < 1
        ):
            raise RnnlabError(f"truncate must be None or a positive integer number of steps, got {truncate!r}")
        batch_size = cache.output_shape[0]
        if d_outputs is None:
            d_outputs = np.zeros(cache.output_shape, dtype=self.dtype)
        self._check_gradient_array(d_outputs, "d_outputs", cache.output_shape)
        d_final = self._parse_final_state_gradient(d_final_state, batch_size)  # per state (L*dirs, B, H)

        grads = Gradients()
        if self.output_size is not None:
            # outputs = top @ W^T + b, with batch and time flattened into one axis of B*T rows.
            flat_d = d_outputs.reshape(-1, self.output_size)  # (B*T, O)
            grads.params["head.weight"] = flat_d.T @ cache.top.reshape(-1, self.top_size)  # (O, F)
            grads.params["head.bias"] = flat_d.sum(axis=0)  # (O,)
            d_top = _matmul_last_axis(d_outputs, self.params["head.weight"])  # (B, T, F)
        else:
            d_top = d_outputs

        d_initial_rows: dict[int, State] = {}
        for layer in reversed(range(self.num_layers)):
            cell = self.cells[layer]
            d_layer_input = 0.0
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                hidden = slice(direction * self.hidden_size, (direction + 1) * self.hidden_size)
                params = self.layer_params(layer, direction)
                d_params, d_x, d_initial = _backward_direction(
                    cell,
                    params,
                    cache.layers[layer][direction],
                    d_top[:, :, hidden],  # (B, T, H): this direction's half of the layer output
                    tuple(d[row] for d in d_final),
                    truncate,
                )
                for name, value in d_params.items():
                    grads.params[self.rnn_param_name(name, layer, direction)] = value
                d_layer_input = d_layer_input + d_x  # both directions read the same input
                d_initial_rows[row] = d_initial
            d_top = d_layer_input  # (B, T, input size of this layer) = d of the layer below's output

        rows = [d_initial_rows[row] for row in range(self.num_layers * self.num_directions)]
        grads.h0 = np.stack([r[0] for r in rows])  # (L*dirs, B, H)
        if len(self.state_names) == 2:
            grads.c0 = np.stack([r[1] for r in rows])

        if self.uses_embedding:
            # Each token's embedding row collects the gradient of every position it appeared at.
            grads.params["embedding.weight"] = _sum_rows_by_id(
                cache.inputs, d_top, self.params["embedding.weight"])
        else:
            grads.inputs = d_top  # (B, T, D)

        # Same order as self.params, so the dicts line up entry by entry.
        grads.params = {name: grads.params[name] for name in self.params}
        return grads

    def _check_gradient_array(self, value, what: str, shape: tuple[int, ...]) -> None:
        if not isinstance(value, np.ndarray):
            raise RnnlabError(f"{what} must be a numpy array of shape {shape}, got {type(value).__name__}")
        if value.shape != shape:
            raise RnnlabError(
                f"{what} has shape {value.shape} but expected {shape}, the shape of what it differentiates"
            )
        if value.dtype != self.dtype:
            raise RnnlabError(f"{what} has dtype {value.dtype} but the network's parameters are {self.dtype}")

    def _parse_final_state_gradient(self, d_final_state, batch_size: int) -> tuple[np.ndarray, ...]:
        shape = self.state_shape(batch_size)
        if d_final_state is None:
            parts = (None,) * len(self.state_names)
        else:
            parts = self.split_state(d_final_state, "d_final_state")
        result = []
        for name, part in zip(self.state_names, parts):
            if part is None:
                part = np.zeros(shape, dtype=self.dtype)
            self._check_gradient_array(part, f"d_final_state {name}_n", shape)
            result.append(part)
        return tuple(result)

    def __repr__(self) -> str:
        source = (f"vocab_size={self.vocab_size}, embedding_dim={self.embedding_dim}" if self.uses_embedding
                  else f"input_size={self.input_size}")
        return (f"RecurrentNetwork({self.cell_type!r}, hidden_size={self.hidden_size}, {source}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"output_size={self.output_size}, dtype={self.dtype})")


# ====================================================================== one direction of a layer


def _sum_rows_by_id(ids: np.ndarray, rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """d_table (V, E): row v is the sum of rows (B, T, E) at the positions where ids (B, T) == v.

    Plain fancy-index `+=` would keep only one of several repeated ids, and np.add.at is slow
    (it was the largest item of a char-LM step); sorting the ids once and summing each run of
    equal ids with np.add.reduceat gives the same sums several times faster.
    """
    flat_ids = ids.reshape(-1)
    flat_rows = rows.reshape(-1, rows.shape[-1])
    order = np.argsort(flat_ids, kind="stable")
    sorted_ids = flat_ids[order]
    run_starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    d_table = np.zeros_like(table)
    d_table[sorted_ids[run_starts]] = np.add.reduceat(flat_rows[order], run_starts, axis=0)
    return d_table


def _time_order(seq_len: int, reverse: bool) -> range:
    """The order in which a direction visits time steps."""
    return range(seq_len - 1, -1, -1) if reverse else range(seq_len)


def _run_direction(cell: RecurrentCell, params, x: np.ndarray, initial: State, reverse: bool):
    """Forward over all steps of one direction. x (B, T, D); returns (h outputs (B, T, H), final state, cache)."""
    batch_size, seq_len, _ = x.shape
    x_proj = cell.project_inputs(x, params)  # (B, T, G*H): one matmul for every time step
    outputs = np.empty((batch_size, seq_len, cell.hidden_size), dtype=x.dtype)
    h_prev = np.empty_like(outputs)
    step_caches: list = [None] * seq_len
    state = initial
    for t in _time_order(seq_len, reverse):
        h_prev[:, t] = state[0]
        state, step_caches[t] = cell.step_forward(x_proj[:, t], state, params)
        outputs[:, t] = state[0]
    return outputs, state, DirectionCache(layer_input=x, h_prev=h_prev, step_caches=step_caches, reverse=reverse)


def _gradient_is_cut(boundary: int, seq_len: int, truncate: int | None) -> bool:
    """Whether truncation drops the state gradient across `boundary` (between steps boundary-1 and boundary)."""
    return truncate is not None and 0 < boundary < seq_len and boundary % truncate == 0


def _backward_direction(cell: RecurrentCell, params, cache: DirectionCache, d_h_outputs: np.ndarray,
                        d_final: State, truncate: int | None):
    """Backward over all steps of one direction.

    d_h_outputs (B, T, H) gradient w.r.t. this direction's h at every step, d_final the gradient
    w.r.t. its final state. Returns (parameter gradients, d layer input (B, T, D), d initial state).
    """
    batch_size, seq_len, _ = d_h_outputs.shape
    gates = cell.num_gates * cell.hidden_size
    d_gates_x = np.empty((batch_size, seq_len, gates), dtype=d_h_outputs.dtype)  # (B, T, G*H)
    # (B, T, G*H); None for a cell without weight_hh (minGRU, minLSTM)
    d_gates_h = np.empty_like(d_gates_x) if cell.recurrent_matrix else None

    d_state = d_final  # gradient w.r.t. the state leaving the step being processed
    for t in reversed(_time_order(seq_len, cache.reverse)):
        # h at step t is both an output of the layer and the state handed to the next step.
        d_state = (d_state[0] + d_h_outputs[:, t],) + tuple(d_state[1:])
        d_gates_x[:, t], d_gates_h_t, d_prev = cell.step_backward(d_state, cache.step_caches[t], params)
        if d_gates_h is not None:
            d_gates_h[:, t] = d_gates_h_t
        # The state entering step t came from step t-1 (forward) or t+1 (reverse).
        boundary = t + 1 if cache.reverse else t
        if _gradient_is_cut(boundary, seq_len, truncate):
            d_prev = tuple(np.zeros_like(d) for d in d_prev)
        d_state = d_prev
    # After the loop, d_state is the gradient w.r.t. the initial state of this direction.

    d_params = cell.parameter_gradients(cache.layer_input, cache.h_prev, d_gates_x, d_gates_h)
    d_x = cell.input_gradient(d_gates_x, params)  # (B, T, D): one matmul for every time step
    return d_params, d_x, d_state


# ========================================================================================= checks


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise RnnlabError(f"{name} must be a positive integer, got {value!r}")


def _check_nonempty(shape: tuple[int, ...], what: str) -> None:
    if shape[0] == 0 or shape[1] == 0:
        raise RnnlabError(f"{what} has shape {shape}: the batch size B and length T must be at least 1")
