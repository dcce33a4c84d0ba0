"""The recurrent encoder shared by the task models: padded batches in, exact results out.

    x (B, T, D) ──► layer 1 ──► [norm] ──► [+ x] ──► dropout ──► layer 2 ──► … ──► outputs (B, T, H·dirs)
                    (any registered cell, one or two directions)                final_state (L·dirs, B, H)

Padding never changes a result
------------------------------
A batch holds sequences of different lengths, padded on the right to the longest (T). If the
recurrence simply ran over the padding, a short sequence's final state would be taken after
several steps of reading pad vectors, and its backward direction would start from padding
instead of from its real last token. The encoder therefore *packs* the batch: sequences are
ordered by length and, at each time step, only those still running take part.

    lengths 3, 1, 2          time →  t=0   t=1   t=2
    padded (B=3, T=3)        seq 0:  a0    a1    a2
                             seq 1:  b0    ·     ·        (· = padding, never read)
                             seq 2:  c0    c1    ·
    packed: batch_sizes = [3, 2, 1]  data = a0 c0 b0 | a1 c1 | a2

Consequences, all tested: `outputs` are exact zeros at padded positions; `final_state` holds each
sequence's state after its TRUE last step; the backward direction of a bidirectional layer
starts at each sequence's true end; and a sequence run alone or inside any padded batch gives
the same numbers (to rounding: ~1e-6 in fp32, a few times that after layer norm;
~1e-15 in float64).

Two paths, same results
-----------------------
* Fast path (no residual, no layer norm): one multi-layer module from the cell registry
  (`rnnlab.nn.cells.make_layer`: nn.RNN/nn.LSTM/nn.GRU for the built-ins, parameters named as
  PyTorch names them, so weights copy straight from a plain torch model; the parallel-scan
  layer for mingru/minlstm) over a `PackedSequence` built with
  `pack_padded_sequence(enforce_sorted=False)`.
* Per-layer path (residual and/or layer norm): one single-layer module per layer, and the
  extra operations are applied to the packed data between layers. Packed data holds only real
  time steps, so layer norm and the residual sum never see padding and need no mask.

Options
-------
cell            any name in the cell registry (`rnnlab.nn.cells.cell_names()`): the built-ins
                rnn_tanh, rnn_relu, lstm, gru, gru_fused, the parallel-scan cells mingru and
                minlstm (docs/parallel-scan.md), or one registered by the user. PyTorch
                layouts: gate order i,f,g,o for LSTM, r,z,n for GRU; two bias vectors per layer
                (each cell's weights: `CellSpec.weights`; mingru/minlstm: weight_ih, bias_ih).
dropout         applied to the outputs of every layer except the last (as nn.LSTM does).
bidirectional   each layer reads the sequence both ways; outputs concatenate [forward, backward].
residual        a layer's input is added to its output where their sizes match: always for
                layers 2..L (both are H·dirs), for layer 1 only when input_size == H·dirs.
                Order within a layer: out = norm(rnn(in)) + in, then dropout before the next.
layer_norm      nn.LayerNorm over the features of each layer's outputs (before the residual
                sum). final_state is the recurrent state itself (before the norm), which is what
                `state=` accepts to continue a sequence.

Step-level API (the chapter's RNNCell vs RNN point)
---------------------------------------------------
`step(x_t, state)` advances a unidirectional encoder by one time step with the same weights,
through the cell's registered one-step formula (`CellSpec.step`). Calling it T times gives the
same outputs and final state as one `forward` call over the T steps: the full-sequence module
is an optimised loop over the cell.
A bidirectional encoder cannot run step by step (its backward direction starts at the end of
the sequence) and says so.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.errors import RnnlabError
from rnnlab.settings import require_positive_ints, require_probabilities
from rnnlab.nn.cells import cell_names, get_cell, make_layer

# A cell with a cell state (LSTM) carries (h, c); the others h alone. Each tensor is
# (num_layers·dirs, B, H).
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


class RecurrentEncoder(nn.Module):
    """Stacked recurrent layers over padded batch-first input (see the module docstring).

    forward(x (B, T, D), lengths (B,) int64 or None, state or None)
        -> outputs (B, T, output_size), final_state ((L·dirs, B, H), or (h, c) for LSTM-like
           cells)
    """

    def __init__(self, input_size: int, hidden_size: int, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 residual: bool = False, layer_norm: bool = False):
        super().__init__()
        get_cell(cell)                    # an unknown name raises, listing the registered cells
        require_positive_ints(input_size=input_size, hidden_size=hidden_size,
                              num_layers=num_layers)
        require_probabilities(dropout=dropout)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.cell = cell
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.residual = bool(residual)
        self.layer_norm = bool(layer_norm)
        self.output_size = hidden_size * self.num_directions

        if not (self.residual or self.layer_norm):
            self.rnn = make_layer(cell, input_size, hidden_size, num_layers, self.dropout,
                                  self.bidirectional)
            self.layers = None
            self.norms = None
            self.residual_at: tuple[bool, ...] = (False,) * num_layers
        else:
            self.rnn = None
            sizes = [input_size] + [self.output_size] * (num_layers - 1)
            self.layers = nn.ModuleList(
                make_layer(cell, size, hidden_size, 1, 0.0, self.bidirectional) for size in sizes)
            self.norms = (nn.ModuleList(nn.LayerNorm(self.output_size) for _ in sizes)
                          if self.layer_norm else None)
            # Residual only where input and output sizes match (see the module docstring).
            self.residual_at = tuple(self.residual and size == self.output_size for size in sizes)

    @property
    def has_cell_state(self) -> bool:
        """True when the state is an (h, c) pair (LSTM-like cells)."""
        return get_cell(self.cell).has_cell_state

    def extra_repr(self) -> str:
        return (f"cell={self.cell!r}, input_size={self.input_size}, hidden_size={self.hidden_size}"
                f", num_layers={self.num_layers}, bidirectional={self.bidirectional}, dropout="
                f"{self.dropout}, residual={self.residual}, layer_norm={self.layer_norm}")

    # -- full-sequence call --------------------------------------------------------------------
    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """x (B, T, D) float; lengths (B,) true lengths (1..T) or None for "all T".

        Returns outputs (B, T, output_size), exact zeros at padded positions, and the final
        state at each sequence's true last step, shaped like PyTorch's ((L·dirs, B, H)).
        """
        self._check_input(x)
        batch, total_length = x.shape[0], x.shape[1]
        if state is not None:
            self._check_state(state, batch)
        if lengths is not None:
            lengths = check_lengths(lengths, batch, total_length)
            # pack_padded_sequence wants the lengths on the CPU whatever the data's device.
            sequence = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        else:
            sequence = x
        if self.rnn is not None:
            out, final = self.rnn(sequence, state)
        else:
            out, final = self._forward_layers(sequence, state)
        if lengths is not None:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=total_length)
        return out, final

    def _forward_layers(self, sequence, state: State | None):
        """Per-layer path; `sequence` is a PackedSequence or a dense (B, T, D) tensor."""
        packed = isinstance(sequence, PackedSequence)
        finals: list = []
        current = sequence
        for index, layer in enumerate(self.layers):
            out, final = layer(current, self._layer_state(state, index))
            data = out.data if packed else out                     # (N, H·dirs) or (B, T, H·dirs)
            if self.norms is not None:
                data = self.norms[index](data)
            if self.residual_at[index]:
                data = data + (current.data if packed else current)
            if index < self.num_layers - 1:
                data = F.dropout(data, self.dropout, self.training)
            current = _with_data(sequence, data) if packed else data
            finals.append(final)
        return current, _concat_states(finals)

    def _layer_state(self, state: State | None, index: int) -> State | None:
        if state is None:
            return None
        rows = slice(index * self.num_directions, (index + 1) * self.num_directions)
        if isinstance(state, tuple):
            return tuple(s[rows] for s in state)
        return state[rows]

    # -- step-level API ------------------------------------------------------------------------
    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        """Zeros shaped like `final_state`: (L·dirs, B, H), an (h, c) pair for LSTM-like cells."""
        if dtype is None or device is None:
            reference = next(self.parameters())
            dtype = dtype or reference.dtype
            device = device or reference.device
        h = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size,
                        device=device, dtype=dtype)
        return (h, torch.zeros_like(h)) if self.has_cell_state else h

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Advance a unidirectional encoder by one time step.

        x_t (B, D); state as returned by `forward`/`step` or None (zeros).
        Returns (out_t (B, H), new_state): out_t equals `forward`'s outputs[:, t].
        """
        if self.bidirectional:
            raise RnnlabError(
                "step() needs a unidirectional encoder: a bidirectional layer's backward "
                "direction starts at the end of the sequence, so it cannot run one step at a "
                "time; call the encoder on the whole sequence instead")
        if x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            raise RnnlabError(f"step() expects x_t of shape (B, {self.input_size}), "
                              f"got {tuple(x_t.shape)}")
        batch = x_t.shape[0]
        if state is None:
            state = self.initial_state(batch, device=x_t.device, dtype=x_t.dtype)
        else:
            self._check_state(state, batch)
        h_all, c_all = (state if isinstance(state, tuple) else (state, None))
        cell_step = get_cell(self.cell).step
        new_h, new_c = [], []
        current = x_t
        for index in range(self.num_layers):
            c_prev = c_all[index] if c_all is not None else None
            h, c = cell_step(current, h_all[index], c_prev, *self._weights(index, reverse=False))
            new_h.append(h)
            new_c.append(c)
            out = h
            if self.norms is not None:
                out = self.norms[index](out)
            if self.residual_at[index]:
                out = out + current
            if index < self.num_layers - 1:
                out = F.dropout(out, self.dropout, self.training)
            current = out
        h_stack = torch.stack(new_h)
        new_state = (h_stack, torch.stack(new_c)) if c_all is not None else h_stack
        return current, new_state

    def _weights(self, layer: int, reverse: bool) -> tuple[torch.Tensor, ...]:
        """The cell's weights of one layer and direction in the order its `step` takes them
        (`CellSpec.weights`; PyTorch's cells: weight_ih, weight_hh, bias_ih, bias_hh)."""
        if self.rnn is not None:
            module, suffix = self.rnn, f"_l{layer}"
        else:
            module, suffix = self.layers[layer], "_l0"
        suffix += "_reverse" if reverse else ""
        return tuple(getattr(module, f"{kind}{suffix}")
                     for kind in get_cell(self.cell).weight_names)

    # -- checks --------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise RnnlabError(f"encoder input must be (B, T, {self.input_size}) batch-first, "
                              f"got {shape}")
        if x.shape[2] != self.input_size:
            raise RnnlabError(f"encoder input has {x.shape[2]} features per step, expected "
                              f"{self.input_size} (input is (B, T, D) batch-first)")
        if not x.is_floating_point():
            raise RnnlabError(f"encoder input must be floating point, got {x.dtype} "
                              "(embed token ids first)")
        if x.shape[1] == 0:
            raise RnnlabError("encoder input has no time steps (T = 0)")

    def _check_state(self, state: State, batch: int) -> None:
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        parts = state if isinstance(state, tuple) else (state,)
        if self.has_cell_state != isinstance(state, tuple) or (
                isinstance(state, tuple) and len(state) != 2):
            want = "an (h, c) pair" if self.has_cell_state else "one tensor"
            raise RnnlabError(f"a {self.cell} state is {want}")
        for part in parts:
            if tuple(part.shape) != expected:
                raise RnnlabError(f"state has shape {tuple(part.shape)}, expected {expected} "
                                  "(num_layers·directions, B, hidden_size)")


def check_lengths(lengths, batch: int, total_length: int) -> torch.Tensor:
    """Validate sequence lengths and return them as a (B,) int64 CPU tensor."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise RnnlabError(f"lengths must have shape ({batch},), one per sequence, "
                          f"got {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise RnnlabError(f"lengths must be integers, got {lengths.dtype}")
    lengths = lengths.to(device="cpu", dtype=torch.int64)
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > total_length):
        raise RnnlabError(f"lengths must lie in 1..{total_length} (the padded length T), got "
                          f"min {int(lengths.min())}, max {int(lengths.max())}")
    return lengths


def _with_data(sequence: PackedSequence, data: torch.Tensor) -> PackedSequence:
    """The same packing (order, batch sizes) around new per-step data."""
    return PackedSequence(data, sequence.batch_sizes, sequence.sorted_indices,
                          sequence.unsorted_indices)


def _concat_states(finals: list) -> State:
    if isinstance(finals[0], tuple):
        return tuple(torch.cat(parts, dim=0) for parts in zip(*finals))
    return torch.cat(finals, dim=0)
