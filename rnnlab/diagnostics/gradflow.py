"""Gradient flow through time: ‖∂L/∂h_t‖ at every time step and layer of a recurrent stack.

How it is measured
    `nn.RNN`/`nn.LSTM`/`nn.GRU` run a whole sequence in one fused call, so the hidden state of
    step t is never a tensor of its own and autograd cannot be asked about it. `RecurrentStack`
    therefore re-runs the same computation one step at a time, time-major:

        for t in 1..T:                       # time outer
            for l in 1..L:                   # layers inner: h_t^l feeds layer l+1 at the same t
                h_t^l = cell(x_t^l, h_{t-1}^l)

    using the module's own parameter tensors (shared, not copied) and the cell's registered
    one-step formula (`rnnlab.nn.cells`: PyTorch's formulas and gate order for the built-ins,
    LSTM i,f,g,o; GRU r,z,n). Every h_t^l is then a separate node of the graph and
    `torch.autograd.grad(L, [h_t^l ...])` returns the total derivative ∂L/∂h_t^l: all paths from
    h_t^l to the loss, through later steps and higher layers (and, for an LSTM, through the cell
    state c). The step-by-step result equals the fused module's output (tested).

    Dropout is not applied (eval mode): the diagnostic measures the deterministic network.

Two losses
    "last"  (many-to-one): L = Σ_b loss_b(T), a loss at the final step only.
    "every" (many-to-many): L = Σ_b Σ_t loss_b(t), a loss at every step (summed over time, so the
            gradient at step T equals the "last" case exactly).
    Sequences of a batch are independent, so row b of ∂L/∂h_t is ∂L_b/∂h_t^b, the gradient of
    sequence b's own loss. Norms are taken per sequence; `GradientFlow.mean_norms` averages them.

Decay fit
    For the many-to-one case, log‖∂L/∂h_t‖ is fitted by least squares against the distance
    d = T - t from the loss; the per-step decay factor is exp(slope). The horizon is the first
    distance at which the norm falls below `threshold` (1e-6) times its value at the loss:
    measured when that happens within the sequence, otherwise extrapolated from the factor.

Fresh models and the init scale
    `fresh_char_lm(..., init_scale=S)` draws every recurrent matrix W_hh (each gate's H×H block
    for LSTM/GRU) i.i.d. N(0, S²/H). By the circular law such a matrix has spectral radius ≈ S
    for large H, so S = 1 is the edge between contracting and expanding linear dynamics whatever
    the hidden size. init_scale=None keeps PyTorch's default U(-1/√H, 1/√H) (radius ≈ 1/√3).
    Input weights, biases, embedding and head keep PyTorch's defaults.

All public sequences are batch-first: inputs (B, T, I), ids (B, T), hidden states (B, H).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import cell_names, get_cell

# Every registered cell can be unrolled (rnnlab.nn.cells), and one more that exists only here,
# for known-answer tests: rnn_linear (identity activation), whose gradient has the closed form
# (W^T)^(T-t) ∂L/∂h_T when h_t = W h_{t-1} + U x_t.
LINEAR_RNN = "rnn_linear"
MODES = ("last", "every")
DEFAULT_THRESHOLD = 1e-6

# A cell with a cell state (LSTM) carries (h, c); the others h alone. Each tensor is (B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
# (top-layer hidden state h_t (B, H), 0-based step t) -> per-sequence loss (B,)
LossAtStep = Callable[[torch.Tensor, int], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# One time step of each cell (PyTorch's formulas and parameter layout)


@dataclass
class LayerWeights:
    """One layer's parameters, laid out as in torch.nn: G gates stacked along the rows."""

    weight_ih: torch.Tensor            # (G*H, I)
    weight_hh: torch.Tensor            # (G*H, H)
    bias_ih: torch.Tensor | None = None  # (G*H,)
    bias_hh: torch.Tensor | None = None  # (G*H,)

    def detached(self) -> "LayerWeights":
        return LayerWeights(*(None if w is None else w.detach()
                              for w in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)))


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    out = x @ weight.T
    return out if bias is None else out + bias


def check_cell(cell: str) -> None:
    """A registered cell or rnn_linear; otherwise RnnlabError listing the choices."""
    if cell != LINEAR_RNN and cell not in cell_names():
        raise RnnlabError(f"unknown cell {cell!r}; registered cells: {', '.join(cell_names())} "
                          f"(and {LINEAR_RNN}, for tests)")


def gate_count(cell: str) -> int:
    return 1 if cell == LINEAR_RNN else get_cell(cell).gates


def gate_names(cell: str) -> tuple[str, ...]:
    """Names of the gate blocks of W_hh, in row order (one, "W_hh", for an Elman RNN)."""
    return ("W_hh",) if cell == LINEAR_RNN else get_cell(cell).gate_labels


def has_cell_state(cell: str) -> bool:
    return cell != LINEAR_RNN and get_cell(cell).has_cell_state


def cell_step(cell: str, w: LayerWeights, x: torch.Tensor, state: State) -> State:
    """The state after one step: x (B, I), state (B, H) or ((B, H), (B, H)) -> same as state."""
    if cell == LINEAR_RNN:
        return rnn_preactivation(w, x, state)
    h, c = state if isinstance(state, tuple) else (state, None)
    # The registered step takes both bias vectors; a bias-free layer's are zeros.
    rows = w.weight_hh.shape[0]
    b_ih = w.bias_ih if w.bias_ih is not None else w.weight_ih.new_zeros(rows)
    b_hh = w.bias_hh if w.bias_hh is not None else w.weight_hh.new_zeros(rows)
    h_next, c_next = get_cell(cell).step(x, h, c, w.weight_ih, w.weight_hh, b_ih, b_hh)
    return (h_next, c_next) if c is not None else h_next


def rnn_preactivation(w: LayerWeights, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, (B, H)."""
    return _affine(x, w.weight_ih, w.bias_ih) + _affine(h, w.weight_hh, w.bias_hh)


def hidden_of(state: State) -> torch.Tensor:
    """The hidden state h (B, H) of a state (the first element of an (h, c) pair)."""
    return state[0] if isinstance(state, tuple) else state


# ----------------------------------------------------------------------------------------------
# A stack of layers, unrolled step by step


class RecurrentStack:
    """L recurrent layers of one cell type, run one time step at a time (see module docstring)."""

    def __init__(self, cell: str, layers: Sequence[LayerWeights]):
        check_cell(cell)
        if not layers:
            raise RnnlabError("a recurrent stack needs at least one layer")
        gates = gate_count(cell)
        hidden = layers[0].weight_hh.shape[1]
        expected_input = layers[0].weight_ih.shape[1]
        for index, w in enumerate(layers):
            if w.weight_hh.shape != (gates * hidden, hidden):
                raise RnnlabError(f"layer {index + 1}: weight_hh has shape "
                                  f"{tuple(w.weight_hh.shape)}, expected {(gates * hidden, hidden)}")
            if w.weight_ih.shape != (gates * hidden, expected_input):
                raise RnnlabError(f"layer {index + 1}: weight_ih has shape "
                                  f"{tuple(w.weight_ih.shape)}, expected "
                                  f"{(gates * hidden, expected_input)}")
            expected_input = hidden  # layer l+1 reads layer l's hidden state
        self.cell = cell
        self.layers = list(layers)
        self.hidden_size = hidden
        self.input_size = layers[0].weight_ih.shape[1]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @classmethod
    def from_module(cls, module: nn.Module) -> "RecurrentStack":
        """Share the parameters of a unidirectional recurrent layer: nn.RNN, nn.LSTM, nn.GRU
        (or a subclass such as gru_fused's), or the generic layer of a registered cell."""
        cell = getattr(module, "cell", None)         # the generic layer names its cell
        if isinstance(cell, str):
            get_cell(cell)
        elif isinstance(module, nn.LSTM):
            cell = "lstm"
        elif isinstance(module, nn.GRU):
            cell = "gru"
        elif isinstance(module, nn.RNN):
            cell = "rnn_tanh" if module.nonlinearity == "tanh" else "rnn_relu"
        else:
            raise RnnlabError(f"expected a recurrent layer (nn.RNN, nn.LSTM, nn.GRU or a "
                              f"registered cell's layer), got {type(module).__name__}")
        if module.bidirectional:
            raise RnnlabError("gradient flow through time is measured for unidirectional "
                              "layers; got a bidirectional module")
        if getattr(module, "proj_size", 0):
            raise RnnlabError("LSTM with proj_size > 0 is not supported by the diagnostics")
        layers = [LayerWeights(getattr(module, f"weight_ih_l{k}"), getattr(module, f"weight_hh_l{k}"),
                               getattr(module, f"bias_ih_l{k}", None),
                               getattr(module, f"bias_hh_l{k}", None))
                  for k in range(module.num_layers)]
        return cls(cell, layers)

    def initial_state(self, batch_size: int, dtype: torch.dtype, device=None) -> list[State]:
        """Zeros for every layer: a list of L states, each (B, H) or ((B, H), (B, H))."""
        def zeros():
            return torch.zeros(batch_size, self.hidden_size, dtype=dtype, device=device)
        return [(zeros(), zeros()) if has_cell_state(self.cell) else zeros()
                for _ in range(self.num_layers)]

    def unroll(self, inputs: torch.Tensor, state0: list[State] | None = None) -> list[list[State]]:
        """Run inputs (B, T, I); returns states[l][t] for layer l and step t (0-based, t < T).

        states[l][t] is the state after step t+1 (h_{t+1} in the chapter's 1-based notation).
        """
        if inputs.dim() != 3 or inputs.shape[2] != self.input_size:
            raise RnnlabError(f"inputs must be (B, T, {self.input_size}), got "
                              f"{tuple(inputs.shape)}")
        batch, steps, _ = inputs.shape
        current = (list(state0) if state0 is not None
                   else self.initial_state(batch, inputs.dtype, inputs.device))
        states: list[list[State]] = [[] for _ in range(self.num_layers)]
        for t in range(steps):
            x = inputs[:, t]                                        # (B, I)
            for layer, weights in enumerate(self.layers):
                current[layer] = cell_step(self.cell, weights, x, current[layer])
                states[layer].append(current[layer])
                x = hidden_of(current[layer])                       # input of the next layer
        return states


# ----------------------------------------------------------------------------------------------
# Measurement


@dataclass
class GradientFlow:
    """‖∂L/∂h_t‖ for every layer, step and sequence of one measurement."""

    mode: str                 # "last" or "every"
    norms: np.ndarray         # (L, T, B): norms[l, t, b] = ‖∂L_b/∂h_{t+1}^{l, b}‖ (0-based t)
    grads: list[list[torch.Tensor]] | None = None  # grads[l][t] = ∂L/∂h (B, H), if kept

    @property
    def mean_norms(self) -> np.ndarray:
        """(L, T): the per-sequence norms averaged over the batch."""
        return self.norms.mean(axis=2)

    def by_distance(self, layer: int = -1) -> np.ndarray:
        """(T,) mean norm at distance d = 0..T-1 from the last step (d = 0 is step T)."""
        return self.mean_norms[layer][::-1].copy()


def measure_gradient_flow(stack: RecurrentStack, inputs: torch.Tensor, loss_at_step: LossAtStep,
                          mode: str = "last", state0: list[State] | None = None,
                          keep_grads: bool = False) -> GradientFlow:
    """Measure ∂L/∂h_t at every step and layer for inputs (B, T, I).

    `loss_at_step(h_top (B, H), t)` gives each sequence's loss (B,) at 0-based step t from the
    top layer's hidden state; mode "last" uses t = T-1 only, "every" sums over all t.
    """
    if mode not in MODES:
        raise RnnlabError(f"unknown loss mode {mode!r}; choose one of {', '.join(MODES)}")
    with torch.enable_grad():
        if state0 is None:
            state0 = stack.initial_state(inputs.shape[0], inputs.dtype, inputs.device)
        # A leaf that requires grad makes every h_t part of the graph even when the parameters
        # and inputs are frozen.
        state0 = [tuple(s.detach().requires_grad_(True) for s in st) if isinstance(st, tuple)
                  else st.detach().requires_grad_(True) for st in state0]
        states = stack.unroll(inputs, state0)
        hidden = [[hidden_of(s) for s in layer] for layer in states]   # [l][t] (B, H)
        top = hidden[-1]
        steps = range(len(top)) if mode == "every" else [len(top) - 1]
        loss = sum(loss_at_step(top[t], t).sum() for t in steps)
        flat = [h for layer in hidden for h in layer]
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
    grads = [torch.zeros_like(h) if g is None else g.detach() for h, g in zip(flat, grads)]
    steps_total = len(top)
    per_layer = [grads[k * steps_total:(k + 1) * steps_total] for k in range(stack.num_layers)]
    norms = np.stack([np.stack([g.norm(dim=1).cpu().double().numpy() for g in layer])
                      for layer in per_layer])                                  # (L, T, B)
    return GradientFlow(mode, norms, per_layer if keep_grads else None)


# ----------------------------------------------------------------------------------------------
# Decay factor and horizon


@dataclass
class DecayFit:
    factor: float | None      # exp(slope) of log-norm against distance; None if < 2 usable points
    points: int               # how many (distance, norm) pairs entered the fit
    horizon: float | None     # distance at which norm < threshold × norm at the loss
    horizon_kind: str         # "measured", "extrapolated", "never" (factor >= 1) or "unknown"
    threshold: float

    def describe(self, seq_len: int) -> str:
        if self.factor is None:
            return "too few nonzero gradients to fit a decay factor"
        text = f"per-step factor {self.factor:.4g} (least-squares fit over {self.points} steps)"
        if self.horizon_kind == "measured":
            return text + (f"; falls below {self.threshold:g} of its value at the loss after "
                           f"{self.horizon:.0f} steps (measured)")
        if self.horizon_kind == "extrapolated":
            return text + (f"; stays above {self.threshold:g} of its value at the loss for all "
                           f"{seq_len} steps: beyond T, about {self.horizon:.0f} steps "
                           "(extrapolated from the factor)")
        if self.horizon_kind == "never":
            return text + (f"; does not decay (factor >= 1), so it never falls below "
                           f"{self.threshold:g} of its value at the loss")
        return text + "; horizon unknown (zero gradient at the loss)"


def fit_decay(norms_by_distance: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> DecayFit:
    """Fit log-norm = a + d·log(factor) for norms_by_distance[d], d = 0, 1, ... (d = 0 at the loss).

    Zero (or non-finite) norms are left out of the fit: they carry no log-scale information.
    """
    if not 0 < threshold < 1:
        raise RnnlabError(f"threshold must be between 0 and 1, got {threshold}")
    norms = np.asarray(norms_by_distance, dtype=np.float64)
    distance = np.arange(len(norms), dtype=np.float64)
    usable = np.isfinite(norms) & (norms > 0)
    factor = None
    if usable.sum() >= 2:
        slope = np.polyfit(distance[usable], np.log(norms[usable]), 1)[0]
        factor = float(math.exp(slope))
    at_loss = norms[0] if len(norms) else 0.0
    if not (np.isfinite(at_loss) and at_loss > 0):
        return DecayFit(factor, int(usable.sum()), None, "unknown", threshold)
    below = np.nonzero(norms < threshold * at_loss)[0]
    if len(below):
        return DecayFit(factor, int(usable.sum()), float(below[0]), "measured", threshold)
    if factor is None:
        return DecayFit(None, int(usable.sum()), None, "unknown", threshold)
    if factor >= 1:
        return DecayFit(factor, int(usable.sum()), None, "never", threshold)
    return DecayFit(factor, int(usable.sum()), math.log(threshold) / math.log(factor),
                    "extrapolated", threshold)


# ----------------------------------------------------------------------------------------------
# Character language models and real text


def fresh_char_lm(vocab_size: int, cell: str, hidden: int, layers: int, embedding: int,
                  init_scale: float | None = None, seed: int = 0):
    """An untrained CharLM; init_scale S draws each W_hh block from N(0, S²/H) (see above)."""
    from rnnlab.models.lm import CharLM, CharLMConfig

    get_cell(cell)                 # an unknown name raises, listing the registered cells
    if init_scale is not None and not (math.isfinite(init_scale) and init_scale >= 0):
        raise RnnlabError(f"init scale must be a finite number >= 0, got {init_scale}")
    torch.manual_seed(seed)
    model = CharLM(CharLMConfig(vocab_size=vocab_size, cell=cell, embedding_size=embedding,
                                hidden_size=hidden, num_layers=layers))
    if init_scale is not None:
        set_recurrent_init_scale(recurrent_module(model), init_scale, seed)
    return model.eval()


def recurrent_module(model) -> nn.Module:
    """The recurrent layers of a CharLM: its encoder's one multi-layer module (`encoder.rnn`)."""
    module = getattr(getattr(model, "encoder", None), "rnn", None)
    if module is None:
        raise RnnlabError("the gradient diagnostics unroll a plain stack of recurrent layers; "
                          "this model's encoder has residual connections or layer norm between "
                          "its layers, which they do not model")
    return module


def set_recurrent_init_scale(module: nn.Module, scale: float, seed: int = 0) -> None:
    """Redraw every W_hh gate block of a recurrent layer (nn.RNN/LSTM/GRU or a registered
    cell's) i.i.d. from N(0, scale²/H)."""
    generator = torch.Generator().manual_seed(seed)
    hidden = module.hidden_size
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.startswith("weight_hh"):
                draw = torch.randn(param.shape, generator=generator, dtype=torch.float64)
                param.copy_(draw * (scale / math.sqrt(hidden)))


def sample_windows(ids: np.ndarray, seq_len: int, batch_size: int,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """B random windows of a text: inputs (B, T) and next-character targets (B, T), int64."""
    ids = np.asarray(ids, dtype=np.int64)
    if seq_len < 1 or batch_size < 1:
        raise RnnlabError(f"sequence length and batch size must be >= 1, got {seq_len} and "
                          f"{batch_size}")
    if len(ids) < seq_len + 1:
        raise RnnlabError(f"the text has {len(ids)} usable characters; a window of sequence "
                          f"length {seq_len} needs at least {seq_len + 1}")
    starts = np.random.default_rng(seed).integers(0, len(ids) - seq_len, size=batch_size)
    windows = np.stack([ids[s:s + seq_len + 1] for s in starts])          # (B, T+1)
    return torch.from_numpy(windows[:, :-1].copy()), torch.from_numpy(windows[:, 1:].copy())


def char_lm_inputs(model, ids: torch.Tensor) -> torch.Tensor:
    """The recurrent stack's inputs for ids (B, T): the embeddings (B, T, E) in the model's dtype."""
    return model.embedding(ids)


def char_lm_loss(model, targets: torch.Tensor) -> LossAtStep:
    """Per-sequence next-character cross-entropy at step t, from the top hidden state."""
    def loss_at_step(h: torch.Tensor, t: int) -> torch.Tensor:
        return nn.functional.cross_entropy(model.head(h), targets[:, t], reduction="none")
    return loss_at_step


@dataclass
class GradFlowReport:
    """Both measurements (many-to-one and many-to-many) on one batch, with the decay fit."""

    description: str                 # the model, e.g. "fresh rnn_tanh 1×128, init scale 1"
    data: str                        # where the batch came from
    cell: str
    last: GradientFlow
    every: GradientFlow
    fit: DecayFit                    # of the top layer, many-to-one

    @property
    def seq_len(self) -> int:
        return self.last.norms.shape[1]

    @property
    def num_layers(self) -> int:
        return self.last.norms.shape[0]

    @property
    def batch_size(self) -> int:
        return self.last.norms.shape[2]

    def summary(self) -> str:
        layer = f"layer {self.num_layers}" + (" (top)" if self.num_layers > 1 else "")
        return f"many-to-one, {layer}: {self.fit.describe(self.seq_len)}"


def char_lm_gradient_flow(model, ids: torch.Tensor, targets: torch.Tensor, description: str = "",
                          data: str = "", threshold: float = DEFAULT_THRESHOLD,
                          dtype: torch.dtype = torch.float64) -> GradFlowReport:
    """Measure a CharLM on ids/targets (B, T) in `dtype` (float64: tiny gradients stay nonzero).

    The model is converted in place to `dtype` and put in eval mode.
    """
    model.to(dtype).eval()
    stack = RecurrentStack.from_module(recurrent_module(model))
    inputs = char_lm_inputs(model, ids).detach()                   # (B, T, E)
    loss = char_lm_loss(model, targets)
    last = measure_gradient_flow(stack, inputs, loss, "last")
    every = measure_gradient_flow(stack, inputs, loss, "every")
    fit = fit_decay(last.by_distance(-1), threshold)
    return GradFlowReport(description, data, stack.cell, last, every, fit)


# ----------------------------------------------------------------------------------------------
# Table


def format_table(report: GradFlowReport, max_rows: int = 40) -> str:
    """A table of mean ‖∂L/∂h_t‖ per step and layer for both losses (a stride when T is long)."""
    steps = report.seq_len
    rows = select_rows(steps, max_rows)
    layers = report.num_layers
    header = ["t", "d"]
    for layer in range(layers):
        header += [f"L{layer + 1} last", f"L{layer + 1} every"]
    lines = [f"‖∂L/∂h_t‖, mean over {report.batch_size} sequences; t = step (1..{steps}), "
             f"d = distance from the last step; 'last' = loss at step {steps} only, "
             "'every' = loss at every step",
             "  ".join(f"{h:>11}" if i >= 2 else f"{h:>5}" for i, h in enumerate(header))]
    last, every = report.last.mean_norms, report.every.mean_norms
    for t in rows:
        cells = [f"{t + 1:>5}", f"{steps - 1 - t:>5}"]
        for layer in range(layers):
            cells += [f"{last[layer, t]:>11.3e}", f"{every[layer, t]:>11.3e}"]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def select_rows(steps: int, max_rows: int) -> list[int]:
    """Step indices to print: all when few, else an even stride that keeps the first and last."""
    if steps <= max_rows:
        return list(range(steps))
    stride = math.ceil(steps / (max_rows - 1))
    rows = list(range(0, steps, stride))
    if rows[-1] != steps - 1:
        rows.append(steps - 1)
    return rows


def write_csv(report: GradFlowReport, path: str | Path) -> None:
    """Every step: t, distance, then for each layer the mean norm for both losses."""
    from rnnlab.train.checkpoint import atomic_write_bytes

    columns = ["t", "distance"]
    for layer in range(report.num_layers):
        columns += [f"layer{layer + 1}_last", f"layer{layer + 1}_every"]
    lines = [",".join(columns)]
    last, every = report.last.mean_norms, report.every.mean_norms
    for t in range(report.seq_len):
        values = [str(t + 1), str(report.seq_len - 1 - t)]
        for layer in range(report.num_layers):
            values += [repr(float(last[layer, t])), repr(float(every[layer, t]))]
        lines.append(",".join(values))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
