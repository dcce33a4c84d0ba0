"""The layer of the parallel-scan cells (minGRU, minLSTM): whole sequences by a scan over time.

    x (B, T, D) or PackedSequence ──► k = x W_ihᵀ + b_ih (all steps, one GEMM) ──► a, b = cell(k)
        ──► h_t = a_t ⊙ h_(t-1) + b_t (scan.py) ──► [next layer] ──► output, h_n (L·dirs, B, H)

A cell of this kind says how its input projection k (…, G·H) becomes the coefficients (a, b)
of the recurrence (`coefficients`; `log_coefficients` for the log-space scan); its one-step form
(`CellSpec.step`) is the same formula for one step, used by `RecurrentEncoder.step` and, here,
whenever a call has one time step (sampling). Everything else is `StepLoopRNN`'s: parameter
names `weight_ih_l{k}`, `bias_ih_l{k}` (+ `_reverse`) from the spec's `weights`, nn.RNN's
forward(input, hx) interface, PackedSequence in and out, dropout between layers.

Padding never changes a result. Packed input is projected on its real steps only, then laid out
(B, T, ·) with a = 1 and b = 0 at the padded positions (log a = 0, log b = the most negative
float for the log-space scan): such a step leaves the state as it is. Going forward a sequence's
state therefore stays at its value after its true last step (its final state); going backward
the padded steps come first and keep the initial state until the sequence's true end. Outputs
are packed again from the real positions only.

Precision: the coefficients and the scan run in the dtype of the state (fp32 under bf16
autocast, where the projection itself is bf16), so a long recurrence does not accumulate in
2-byte floats; `step` does the same.

Long sequences: unidirectional dense input (the char LM's windows) longer than BLOCK steps runs
block by block, each block through every layer, the state carried from block to block — the
same recurrence, with temporaries small enough to stay in cache (see BLOCK).

`scan` (an attribute, default `DEFAULT_SCAN`) chooses the algorithm: "chunked", "log" or
"sequential" (scan.py); the benchmark and the tests switch it, the results agree.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells.scan import SCANS, chunked_scan_with_final, log_scan, sequential_scan
from rnnlab.nn.cells.steploop import StepLoopRNN

# Chosen by measurement: docs/parallel-scan.md and BENCHMARKS.md ("Parallel-scan cells").
DEFAULT_SCAN = "chunked"
# Unidirectional dense input longer than this runs in time blocks of this many steps, every
# layer on one block before the next block (the state carried between blocks): each temporary
# is then (B, BLOCK, G·H), small enough to stay in the CPU's caches and in the allocator's heap.
# Whole 512-step tensors of a batch of 64 are 32 MiB each, which glibc serves by mmap (fresh
# pages, zeroed by the kernel, on every allocation): measured, that halved minGRU's tokens/s.
BLOCK = 64


class ScanRNN(StepLoopRNN):
    """Stacked layers of a parallel-scan cell, batch-first, nn.RNN's interface.

    coefficients(k (…, G·H)) -> (a, b), each (…, H); log_coefficients(k) -> (log a, log b).
    """

    def __init__(self, spec, coefficients, log_coefficients, input_size: int, hidden_size: int,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False):
        self.coefficients = coefficients
        self.log_coefficients = log_coefficients
        self.scan = DEFAULT_SCAN
        super().__init__(spec, input_size, hidden_size, num_layers, dropout, bidirectional)

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation, U(-1/√D, 1/√D) for weight and bias (D the layer's input
        size): the gates and candidate are linear maps of the input alone."""
        with torch.no_grad():
            for layer in range(self.num_layers):
                fan_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
                bound = 1.0 / math.sqrt(fan_in)
                for direction in range(self.num_directions):
                    for parameter in self.weights(layer, reverse=direction == 1):
                        parameter.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", scan={self.scan!r}"

    def forward(self, input, hx=None):
        """input (B, T, D) or a PackedSequence; hx (L·dirs, B, H) or None (zeros).
        Returns (output of input's kind, h_n (L·dirs, B, H))."""
        if self.scan not in SCANS:
            raise RnnlabError(f"unknown scan {self.scan!r}; choose one of {', '.join(SCANS)}")
        packed = isinstance(input, PackedSequence)
        if packed:
            data = input.data                                               # (N, D)
            batch = int(input.batch_sizes[0])
        else:
            if input.dim() != 3 or input.shape[2] != self.input_size:
                raise RnnlabError(f"{self.cell} layer input must be (B, T, {self.input_size}) "
                                  f"batch-first, got {tuple(input.shape)}")
            if input.shape[1] == 0:
                raise RnnlabError(f"{self.cell} layer input has no time steps (T = 0)")
            data, batch = input, input.shape[0]
        h0, _ = self._initial(hx, batch, data)                              # (L·dirs, B, H)
        if not packed and input.shape[1] == 1:
            return self._one_step(input, h0)
        if not packed and self.num_directions == 1 and input.shape[1] > BLOCK:
            return self._forward_blocks(input, h0)
        finals = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                data = F.dropout(data, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                w_ih, b_ih = self.weights(layer, reverse=direction == 1)
                k = F.linear(data, w_ih, b_ih).to(h0.dtype)                # (…, G·H)
                h, final = self._scan(k, input if packed else None, h0[row], direction == 1)
                outputs.append(h)                                           # (…, H)
                finals.append(final)                                        # (B, H)
            data = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
        h_n = torch.stack(finals)                                           # (L·dirs, B, H)
        if packed:
            return PackedSequence(data, input.batch_sizes, input.sorted_indices,
                                  input.unsorted_indices), h_n
        return data, h_n

    def _scan(self, k: torch.Tensor, packing: PackedSequence | None, h0: torch.Tensor,
              reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One direction of one layer: k (B, T, G·H) or packed (N, G·H) -> (h in the same
        layout, the final state (B, H))."""
        if self.scan == "log":
            first, second = self.log_coefficients(k)
            pads = (0.0, torch.finfo(k.dtype).min)          # log 1, "log 0"
        else:
            first, second = self.coefficients(k)
            pads = (1.0, 0.0)
        if packing is not None:
            (first, lengths), (second, _) = (_padded(packing, part, pad)
                                             for part, pad in zip((first, second), pads))
        if self.scan == "chunked":
            h, final = chunked_scan_with_final(first, second, h0, reverse)   # (B, T, H), (B, H)
        else:
            h = (log_scan if self.scan == "log" else sequential_scan)(first, second, h0, reverse)
            final = h[:, 0] if reverse else h[:, -1]
        if reverse:               # every sequence's backward direction ends at t = 0
            return (_packed_data(packing, h) if packing is not None else h), final
        if packing is None:
            return h, final
        # Each sequence's state after its true last step (the padded steps after it keep that
        # value, but taking it at the true end makes it the very number output there).
        last = (lengths - 1).to(h.device).view(-1, 1, 1).expand(-1, 1, h.shape[2])
        return _packed_data(packing, h), h.gather(1, last).squeeze(1)

    def _forward_blocks(self, input: torch.Tensor, h0: torch.Tensor):
        """Unidirectional dense input, BLOCK steps at a time through every layer (see BLOCK)."""
        states = list(h0.unbind(0))                                         # L × (B, H)
        blocks = []
        for start in range(0, input.shape[1], BLOCK):
            x = input[:, start:start + BLOCK]                               # (B, ≤BLOCK, D)
            for layer in range(self.num_layers):
                if layer > 0 and self.dropout and self.training:
                    x = F.dropout(x, self.dropout, training=True)
                w_ih, b_ih = self.weights(layer, reverse=False)
                k = F.linear(x, w_ih, b_ih).to(h0.dtype)
                x, states[layer] = self._scan(k, None, states[layer], False)
            blocks.append(x)
        return torch.cat(blocks, dim=1), torch.stack(states)

    def _one_step(self, input: torch.Tensor, h0: torch.Tensor):
        """T = 1 (sampling, streaming): the cell's one-step formula, layer by layer."""
        x = input[:, 0]                                                     # (B, D)
        finals = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                x = F.dropout(x, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                h, _ = self.spec.step(x, h0[row], None,
                                      *self.weights(layer, reverse=direction == 1))
                outputs.append(h)
                finals.append(h)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
        return x.unsqueeze(1), torch.stack(finals)


def _padded(packing: PackedSequence, data: torch.Tensor,
            value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed per-step values (N, H) -> ((B, T, H) in the caller's row order with `value` at the
    padded positions, the lengths (B,))."""
    sequence = PackedSequence(data, packing.batch_sizes, packing.sorted_indices,
                              packing.unsorted_indices)
    return pad_packed_sequence(sequence, batch_first=True, padding_value=value)


def _packed_data(packing: PackedSequence, h: torch.Tensor) -> torch.Tensor:
    """(B, T, H) in the caller's row order -> the packed data (N, H): time-major, the rows
    still running at each step, in the packing's (length) order."""
    if packing.sorted_indices is not None:
        h = h.index_select(0, packing.sorted_indices)
    sizes = packing.batch_sizes.to(h.device)
    running = torch.arange(h.shape[0], device=h.device).unsqueeze(0) < sizes.unsqueeze(1)   # (T, B)
    return h.transpose(0, 1)[running]
