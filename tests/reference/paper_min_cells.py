"""minGRU and minLSTM written out from the paper's equations with plain torch operations, for
autograd to differentiate: the independent references of the NumPy engine's min cells.

Feng et al. 2024, "Were RNNs All We Needed?", log-space version (positive candidate g):
    minGRU:  z = σ(k_z),  h' = (1 − z) h + z g(k_h)
    minLSTM: f = σ(k_f),  i = σ(k_i),  h' = f/(f + i) h + i/(f + i) g(k_h)
with k = W_ih x + b_ih split into blocks in that order. Parameter names follow rnnlab's layers
(weight_ih_l{k}, bias_ih_l{k}, "_reverse"), so a NumPy network's state_dict loads as it is.
"""

from __future__ import annotations

import torch


def g(x):
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def paper_step(cell: str, x, h, weight, bias):
    k = x @ weight.T + bias
    if cell == "mingru":
        k_z, k_h = k.chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        return (1 - z) * h + z * g(k_h)
    k_f, k_i, k_h = k.chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    return f / (f + i) * h + i / (f + i) * g(k_h)


GATES = {"mingru": 2, "minlstm": 3}


class PaperCell(torch.nn.Module):
    """One step: forward(x (B, D), h (B, H)) -> h' (B, H); parameters weight_ih, bias_ih."""

    def __init__(self, cell: str, input_size: int, hidden_size: int):
        super().__init__()
        self.cell = cell
        rows = GATES[cell] * hidden_size
        self.weight_ih = torch.nn.Parameter(torch.zeros(rows, input_size))
        self.bias_ih = torch.nn.Parameter(torch.zeros(rows))

    def forward(self, x, h):
        return paper_step(self.cell, x, h, self.weight_ih, self.bias_ih)


class PaperRNN(torch.nn.Module):
    """Stacked, optionally bidirectional, batch-first: forward(x (B, T, D), h0) -> (out, h_n),
    a plain loop over time like nn.RNN's definition."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False):
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        rows = GATES[cell] * hidden_size
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in [f"_l{layer}", f"_l{layer}_reverse"][:self.num_directions]:
                self.register_parameter("weight_ih" + suffix,
                                        torch.nn.Parameter(torch.zeros(rows, size)))
                self.register_parameter("bias_ih" + suffix, torch.nn.Parameter(torch.zeros(rows)))

    def forward(self, x, h0=None):
        batch, length = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers * self.num_directions, batch, self.hidden_size)
        finals, layer_input = [], x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                weight, bias = getattr(self, "weight_ih" + suffix), getattr(self, "bias_ih" + suffix)
                h = h0[layer * self.num_directions + direction]
                steps = range(length - 1, -1, -1) if direction else range(length)
                out = [None] * length
                for t in steps:
                    h = paper_step(self.cell, layer_input[:, t], h, weight, bias)
                    out[t] = h
                outputs.append(torch.stack(out, dim=1))
                finals.append(h)
            layer_input = torch.cat(outputs, dim=2)
        return layer_input, torch.stack(finals)
