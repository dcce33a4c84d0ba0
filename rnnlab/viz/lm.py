"""What a char LM does inside, character by character: the data behind the page's LM view.

`trace_char_lm(model, text)` reads the text once and keeps, for every character t:

* every layer's recurrent state after reading t: h (and c for an LSTM). Each layer runs the
  whole text in one call of the cell registry's layer with the model's weights (one layer at a
  time, so every layer's outputs are visible; residual connections and layer norm between
  layers applied as the encoder applies them); a user cell with a cell state the page cannot
  rebuild runs through the encoder's step API instead. Both equal the model's own states
  (tested against torch's modules and `RecurrentEncoder.step`);
* the gate activations of the built-in gated cells (rnnlab.viz.gates), recomputed for all steps
  of a layer at once from that layer's inputs and previous states;
* the model's next-character distribution after reading t (its full-sequence forward call):
  the surprisal of the character that follows, -ln p(x_{t+1} | x_≤t), and the top-k;
* ‖∂L/∂h_t‖ per layer and step on the first characters, from rnnlab.diagnostics.gradflow
  (float64, both losses: at the window's last character, and at every character).

`lm_payload` turns a trace into the page's data: activations as 8-bit codes per unit
(rnnlab.viz.encoding), the interpretable-unit ranking (rnnlab.viz.features).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import make_layer
from rnnlab.viz.encoding import pack, pack_units
from rnnlab.viz.features import FEATURES, rank_units
from rnnlab.viz.gates import gate_activations, gates_of

# Cells whose hidden state is squashed into [-1, 1] (tanh of something): shaded on a fixed
# scale, so that units and layers compare. Unbounded states (c, relu, user cells) are shaded on
# each unit's own largest |value| over the text: one large unit would otherwise wash out the
# rest of its layer (an LSTM's c reaches ±30 in a few units and stays within ±1 in most).
BOUNDED_H_CELLS = ("rnn_tanh", "lstm", "gru", "gru_fused")
# Above this many gate activations (layers × characters × units × gates) the page leaves the
# gates out unless asked (--gates): one byte each, 4/3 more as base64.
AUTO_GATE_LIMIT = 16_000_000
DEFAULT_TOP_K = 5
DEFAULT_GRADFLOW_CHARS = 400


@dataclass
class Quantity:
    """One thing shaded per unit: a state (h, c) or a gate, for every layer."""

    name: str                          # "h", "c", "i", "z", ...
    label: str
    scale: str                         # "diverging" or "sequential"
    layers: list[np.ndarray]           # per layer (T, H) float32
    # per layer: the values shown with the full colour, or None: each unit's own max |value|
    ranges: list[tuple[float, float] | None]


@dataclass
class CharLMTrace:
    text: str                          # the characters the model read
    ids: np.ndarray                    # (T,) int64
    quantities: list[Quantity]
    log_probs: np.ndarray              # (T, V) float32: ln p(next character | text[:t+1])
    gradflow: object | None = None     # rnnlab.diagnostics.gradflow.GradFlowReport
    gradflow_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def surprisal(self) -> np.ndarray:
        """(T,) -ln p(x_t | x_<t) in nats; NaN at t = 0, which nothing predicts."""
        out = np.full(len(self.ids), np.nan, dtype=np.float32)
        if len(self.ids) > 1:
            out[1:] = -self.log_probs[np.arange(len(self.ids) - 1), self.ids[1:]]
        return out

    def top_k(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, k) ids and probabilities of the k likeliest next characters, likeliest first."""
        k = min(k, self.log_probs.shape[1])
        order = np.argsort(-self.log_probs, axis=1, kind="stable")[:, :k]
        return order, np.exp(np.take_along_axis(self.log_probs, order, axis=1))


@torch.no_grad()
def step_states(model, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """x (T, E) embeddings -> per layer h (T, H) and c (T, H) or None, one encoder step per
    character (the cell's registered formula), state carried from zeros. Slow (a Python loop
    over time); used for cells whose cell state cannot be rebuilt from gates."""
    encoder = model.encoder
    state = encoder.initial_state(1, device=x.device, dtype=x.dtype)
    steps, layers = x.shape[0], encoder.num_layers
    h_all = torch.empty(steps, layers, encoder.hidden_size, dtype=x.dtype)
    c_all = torch.empty_like(h_all) if encoder.has_cell_state else None
    for t in range(steps):
        _, state = encoder.step(x[t:t + 1], state)                  # each (L, 1, H)
        if c_all is not None:
            h_all[t], c_all[t] = state[0][:, 0], state[1][:, 0]
        else:
            h_all[t] = state[:, 0]
    hs = [h_all[:, layer] for layer in range(layers)]
    return hs, None if c_all is None else [c_all[:, layer] for layer in range(layers)]


def single_layers(encoder) -> list:
    """One single-layer module per layer, sharing the encoder's weights: its own per-layer
    modules, or (one multi-layer module) a single-layer copy of each layer built by the cell
    registry — so every layer runs a whole sequence in one call and its outputs are visible."""
    if encoder.layers is not None:
        return list(encoder.layers)
    modules = []
    for k in range(encoder.num_layers):
        size = encoder.input_size if k == 0 else encoder.hidden_size
        layer = make_layer(encoder.cell, size, encoder.hidden_size, 1).to(
            next(encoder.parameters()).device)
        weights = dict(zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                           encoder._weights(k, reverse=False)))
        layer.load_state_dict(weights)
        modules.append(layer.eval())
    return modules


def next_input(encoder, index: int, h: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """What layer index+1 reads: layer index's h after its layer norm and residual sum, as in
    `RecurrentEncoder` (eval mode: no dropout)."""
    out = h
    if encoder.norms is not None:
        out = encoder.norms[index](out)
    if encoder.residual_at[index]:
        out = out + current
    return out


@torch.no_grad()
def layer_trace(model, ids: torch.Tensor, want_gates: bool):
    """ids (T,) -> (hs, cs or None, gates {name: per layer (T, H)} or {}).

    Each layer runs the whole sequence at once (`single_layers`); its gates are recomputed from
    its inputs and previous states (rnnlab.viz.gates). An LSTM's cell states follow from its
    gates, c_t = f_t·c_{t-1} + i_t·g_t (an element-wise loop). A user cell with a cell state
    but no known gates runs step by step instead (`step_states`).
    """
    encoder = model.encoder
    cell = encoder.cell
    x = model.embedding(ids)                                        # (T, E)
    gate_list = gates_of(cell)
    if encoder.has_cell_state and not gate_list:
        hs, cs = step_states(model, x)
        return hs, cs, {}
    hs, cs = [], ([] if encoder.has_cell_state else None)
    gates: dict[str, list[torch.Tensor]] = {gate.name: [] for gate in gate_list}
    current = x
    for index, layer in enumerate(single_layers(encoder)):
        out, _ = layer(current.unsqueeze(0))                        # (1, T, H)
        h = out[0]
        hs.append(h)
        if gate_list and (want_gates or cs is not None):
            h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])   # (T, H): the state before t
            values = gate_activations(cell, current, h_prev,
                                      *encoder._weights(index, reverse=False))
            if cs is not None:
                cs.append(cell_states(values["i"], values["f"], values["g"]))
            if want_gates:
                for name, value in values.items():
                    gates[name].append(value)
        current = next_input(encoder, index, h, current)
    return hs, cs, (gates if want_gates else {})


def cell_states(i: torch.Tensor, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """An LSTM layer's c (T, H) from its gates (T, H), starting from c_0 = 0."""
    update = i * g
    c = torch.empty_like(update)
    previous = torch.zeros_like(update[0])
    for t in range(update.shape[0]):
        previous = f[t] * previous + update[t]
        c[t] = previous
    return c


def check_text(model, text: str, unknown: str = "error") -> tuple[str, np.ndarray]:
    """(the text the model reads, its ids): unknown characters raise (listed) or are skipped."""
    vocab = model.require_vocab()
    ids = vocab.encode(text, unknown=unknown)
    if unknown == "skip" and len(ids) != len(text):
        text = "".join(ch for ch in text if ch in vocab)
    if len(ids) == 0:
        raise RnnlabError("no character of the text is in the model's vocabulary; nothing to show")
    return text, ids


@torch.no_grad()
def trace_char_lm(model, text: str, *, unknown: str = "error", gates: bool | None = None,
                  gradflow_chars: int = DEFAULT_GRADFLOW_CHARS) -> CharLMTrace:
    """Read `text` with `model` (a CharLM with its vocabulary) and keep what the page shows.

    gates: True/False, or None for "when there are at most AUTO_GATE_LIMIT of them".
    gradflow_chars: the window (first characters) of the gradient-flow measurement; 0: none.
    """
    model = model.eval()
    text, ids_np = check_text(model, text, unknown)
    notes = []
    device = next(model.parameters()).device
    ids = torch.as_tensor(ids_np, dtype=torch.long, device=device)
    config = model.config
    cell = config.cell

    gate_list = gates_of(cell)
    count = len(gate_list) * config.num_layers * len(ids_np) * config.hidden_size
    if gates is None:
        gates = count <= AUTO_GATE_LIMIT
        if gate_list and not gates:
            notes.append(f"gate activations left out: {count:,} values would add about "
                         f"{count * 4 / 3 / 1e6:.0f} MB; --gates includes them")
    elif gates and not gate_list:
        notes.append(f"no gate activations: cell {cell!r} has no gates the page can show")
    hs, cs, gate_values = layer_trace(model, ids, bool(gates))

    def arrays(tensors):
        return [t.float().cpu().numpy() for t in tensors]

    h_values = arrays(hs)
    h_range = [(-1.0, 1.0) if cell in BOUNDED_H_CELLS else None for _ in h_values]
    quantities = [Quantity("h", "hidden state h", "diverging", h_values, h_range)]
    if cs is not None:
        c_values = arrays(cs)
        quantities.append(Quantity("c", "cell state c", "diverging", c_values,
                                   [None] * len(c_values)))
    for gate in gate_list:
        if gate.name in gate_values:
            sigmoid = gate.squash == "sigmoid"
            quantities.append(Quantity(gate.name, gate.label,
                                       "sequential" if sigmoid else "diverging",
                                       arrays(gate_values[gate.name]),
                                       [(0.0, 1.0) if sigmoid else (-1.0, 1.0)] * config.num_layers))

    logits, _ = model(ids.unsqueeze(0))                                   # (1, T, V)
    log_probs = torch.log_softmax(logits[0].double(), dim=-1).float().cpu().numpy()

    report, note = None, ""
    if gradflow_chars and len(ids_np) >= 2:
        report, note = measure_gradflow(model, ids_np, gradflow_chars)
    elif gradflow_chars:
        note = "needs at least two characters (an input and its next character)"
    else:
        note = "not measured (--gradflow-chars 0)"
    return CharLMTrace(text, ids_np, quantities, log_probs, report, note, notes)


def measure_gradflow(model, ids: np.ndarray, window: int):
    """(GradFlowReport, note) on the first `window` characters, each predicting the next; the
    model is copied (the measurement converts to float64) so the caller's stays as it was."""
    from rnnlab.diagnostics.gradflow import char_lm_gradient_flow, recurrent_module

    steps = min(window, len(ids) - 1)
    try:
        recurrent_module(model)
    except RnnlabError as err:
        return None, f"not shown: {err}"
    inputs = torch.as_tensor(ids[:steps], dtype=torch.long).unsqueeze(0)          # (1, N)
    targets = torch.as_tensor(ids[1:steps + 1], dtype=torch.long).unsqueeze(0)    # (1, N)
    report = char_lm_gradient_flow(copy.deepcopy(model).cpu(), inputs, targets)
    return report, f"‖∂L/∂h_t‖ on the first {steps} characters (float64)"


def lm_payload(trace: CharLMTrace, model, top_k: int = DEFAULT_TOP_K, run: str = "") -> dict:
    """The page's data for a char LM (see docs/viz.md for the fields)."""
    config = model.config
    vocab = model.require_vocab()
    activations = {(q.name, layer): values for q in trace.quantities
                   for layer, values in enumerate(q.layers)}
    ranking = rank_units(activations, trace.text)
    top_ids, top_probs = trace.top_k(top_k)
    payload = {
        "kind": "char_lm",
        "title": f"char LM: {config.cell} {config.num_layers}×{config.hidden_size}",
        "run": run,
        "model": {"cell": config.cell, "layers": config.num_layers,
                  "hidden": config.hidden_size, "vocab": len(vocab),
                  "residual": config.residual, "layer_norm": config.layer_norm},
        "text": trace.text,
        "vocab": vocab.chars,
        "quantities": [{"name": q.name, "label": q.label, "scale": q.scale,
                        "layers": [{"range": None if q.ranges[layer] is None
                                    else list(q.ranges[layer]), **pack_units(values)}
                                   for layer, values in enumerate(q.layers)]}
                       for q in trace.quantities],
        "surprisal": pack(trace.surprisal, "f32"),
        "surprisal_range": [0.0, math.log(len(vocab))],
        "topk": {"k": int(top_ids.shape[1]), "ids": pack(top_ids, "u16"),
                 "probs": pack(top_probs, "f32")},
        "ranking": [{"feature": name, "label": FEATURES[name],
                     "units": [{"quantity": u.quantity, "layer": u.layer, "unit": u.unit,
                                "r": round(u.r, 4)} for u in ranking[name]]}
                    for name in FEATURES],
        "gradflow": gradflow_payload(trace),
        "notes": trace.notes,
    }
    return payload


def gradflow_payload(trace: CharLMTrace) -> dict:
    report = trace.gradflow
    if report is None:
        return {"note": trace.gradflow_note}
    # log10 in float32: norms that vanish over hundreds of steps (1e-60 in float64) would
    # underflow to 0 as float32 values; their logarithms do not. A zero norm is -inf.
    with np.errstate(divide="ignore"):
        last = np.log10(report.last.mean_norms)          # (L, N)
        every = np.log10(report.every.mean_norms)
    return {"note": trace.gradflow_note, "steps": int(last.shape[1]), "layers": int(last.shape[0]),
            "last_log10": pack(last, "f32"), "every_log10": pack(every, "f32"),
            "fit": report.fit.describe(report.seq_len)}
