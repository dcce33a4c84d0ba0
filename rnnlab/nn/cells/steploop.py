"""The generic recurrent layer: any registered cell's `step`, looped over time, behind nn.RNN's
interface. `make_layer` builds it for a spec registered without a `make_layer` of its own.

    x (B, T, D) or PackedSequence ──► layer 1 (fwd [+ bwd]) ──► dropout ──► layer 2 ──► …
        ──► output (same kind as x, H·dirs features), h_n (L·dirs, B, H) [, c_n]

What rnnlab relies on, and this module keeps:
* parameters weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (+ "_reverse"), shaped
  (G·H, D_k), (G·H, H), (G·H,), (G·H,) and registered in nn.RNN's order, drawn from
  U(-1/√H, 1/√H) as PyTorch draws them — or, for a cell that declares its own `weights`
  (CellSpec.weights), those tensors in that order, drawn the same way;
* attributes input_size, hidden_size, num_layers, dropout, bidirectional, batch_first=True;
* forward(input, hx=None) with dense batch-first input or a PackedSequence (as made by
  pack_padded_sequence(batch_first=True, enforce_sorted=False)), output of the same kind.

Padding never changes a result. A packed batch is processed as PyTorch's own kernels process
it: sequences sorted by length, and at step t only the first batch_sizes[t] of them (those
still running) are updated. So a sequence's final state is its state after its true last step,
the backward direction starts each sequence at its own end (rows that have not started yet
still hold their initial state), and padded positions are never computed (the caller's
pad_packed_sequence fills them with zeros). The same loop serves dense input: every row is
running at every step.

A Python loop over time: for research cells, not for speed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

from rnnlab.errors import RnnlabError

class StepLoopRNN(nn.Module):
    """Stacked layers of one cell (a CellSpec), batch-first; see the module docstring."""

    batch_first = True
    bias = True
    proj_size = 0

    def __init__(self, spec, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        self.spec = spec
        self.cell = spec.name
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                for kind, shape in spec.weight_shapes(layer_input, hidden_size):
                    self.register_parameter(kind + suffix, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.num_directions]

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        return (f"cell={self.cell!r}, {self.input_size}, {self.hidden_size}, num_layers="
                f"{self.num_layers}, dropout={self.dropout}, bidirectional={self.bidirectional}"
                ", batch_first=True")

    def weights(self, layer: int, reverse: bool) -> tuple[torch.Tensor, ...]:
        """The cell's weights of one layer and direction, in `step`'s order (PyTorch's:
        weight_ih, weight_hh, bias_ih, bias_hh)."""
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        return tuple(getattr(self, kind + suffix) for kind in self.spec.weight_names)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, input, hx=None):
        """input (B, T, D) or a PackedSequence; hx (L·dirs, B, H), an (h, c) pair for a cell
        with a cell state, or None (zeros). Returns (output, h_n) like nn.RNN."""
        packed = isinstance(input, PackedSequence)
        if packed:
            # Rows in length order; batch_sizes[t] = how many sequences are still running at t.
            sizes = input.batch_sizes.tolist()
            xs = list(input.data.split(sizes))                        # T tensors (n_t, D)
        else:
            if input.dim() != 3 or input.shape[2] != self.input_size:
                raise RnnlabError(f"{self.cell} layer input must be (B, T, {self.input_size}) "
                                  f"batch-first, got {tuple(input.shape)}")
            if input.shape[1] == 0:
                raise RnnlabError(f"{self.cell} layer input has no time steps (T = 0)")
            sizes = [input.shape[0]] * input.shape[1]
            xs = list(input.unbind(1))                                # T tensors (B, D)
        batch = sizes[0]
        h0, c0 = self._initial(hx, batch, xs[0])
        if packed and input.sorted_indices is not None:
            # The caller's state is in the caller's row order; the loop runs in length order.
            h0 = h0.index_select(1, input.sorted_indices)
            c0 = None if c0 is None else c0.index_select(1, input.sorted_indices)
        finals_h, finals_c = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                xs = [F.dropout(x, self.dropout, training=True) for x in xs]
            outputs = []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                out, h, c = self._run(xs, sizes, h0[row], None if c0 is None else c0[row],
                                      self.weights(layer, reverse=direction == 1),
                                      reverse=direction == 1)
                outputs.append(out)
                finals_h.append(h)
                finals_c.append(c)
            xs = [torch.cat(parts, dim=1) for parts in zip(*outputs)]    # T × (n_t, H·dirs)
        h_n = torch.stack(finals_h)                                       # (L·dirs, B, H)
        c_n = torch.stack(finals_c) if c0 is not None else None
        if packed:
            if input.unsorted_indices is not None:
                h_n = h_n.index_select(1, input.unsorted_indices)
                c_n = None if c_n is None else c_n.index_select(1, input.unsorted_indices)
            output = PackedSequence(torch.cat(xs), input.batch_sizes, input.sorted_indices,
                                    input.unsorted_indices)
        else:
            output = torch.stack(xs, dim=1)                               # (B, T, H·dirs)
        return output, (h_n if c_n is None else (h_n, c_n))

    def _run(self, xs, sizes, h, c, weights, reverse: bool):
        """One direction of one layer over the steps xs[t] (n_t, D), rows in length order.

        Rows n_t.. are not running at step t: going forward they have ended, so they keep
        their final state; going backward they have not started, so they keep the initial one.
        """
        step = self.spec.step
        outputs = [None] * len(xs)
        for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
            n = sizes[t]
            h_t, c_t = step(xs[t], h[:n], None if c is None else c[:n], *weights)   # (n, H)
            outputs[t] = h_t
            h = h_t if n == h.shape[0] else torch.cat([h_t, h[n:]])
            if c is not None:
                c = c_t if n == c.shape[0] else torch.cat([c_t, c[n:]])
        return outputs, h, c

    def _initial(self, hx, batch: int, like: torch.Tensor):
        """(h0, c0 or None), each (L·dirs, B, H); zeros when hx is None."""
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        cell_state = self.spec.has_cell_state
        if hx is None:
            h0 = like.new_zeros(expected)
            return h0, (torch.zeros_like(h0) if cell_state else None)
        if cell_state != isinstance(hx, tuple) or (cell_state and len(hx) != 2):
            want = "an (h, c) pair" if cell_state else "one tensor"
            raise RnnlabError(f"a {self.cell} state is {want}")
        for part in (hx if cell_state else (hx,)):
            if tuple(part.shape) != expected:
                raise RnnlabError(f"{self.cell} state has shape {tuple(part.shape)}, expected "
                                  f"{expected} (num_layers·directions, B, hidden_size)")
        return (hx[0], hx[1]) if cell_state else (hx, None)
