"""Activations: what autograd saves, derived from PyTorch 2.x's CPU kernels, recorded by a
symbolic forward pass (`activation_model`) with the transient buffers of its fullest moments.

    B batch, T time steps, H hidden, D directions, F = D·H, I_l input size of layer l,
    a = bytes per activation element (4 in fp32, 2 under bf16/fp16 autocast).

    nn.RNN (tanh or relu), per layer and direction: the T hidden states h_1..h_T (the
        nonlinearity keeps its result, the W_hh matmul keeps h_(t-1)), so T·B·H·a, plus the
        zero initial state (4·L·D·B·H for the whole stack in fp32; under autocast each layer
        keeps a 2-byte copy of it instead, B·H·2).
    nn.GRU, per layer and direction: per step the 3H gate block of the W_hh matmul, a copy of its
        candidate slice (an in-place multiply needs the original), the candidate n_t, a copy of
        (h - n_t) and h_(t-1): 7 (B, H) tensors per step, less h_T which nothing keeps:
        (7T - 1)·B·H·4 in fp32. Under autocast the hidden state stays fp32 (it mixes with the
        fp32 zero state) while the gates are 2-byte: 16·T·B·H bytes.
    nn.LSTM runs oneDNN's fused kernel on the CPU, which keeps its input (T, B, I_l), its output
        (T, B, H), the final h and c, the zero initial (h, c), and a *workspace* whose layout is
        in rnnlab.diagnostics.memory.onednn: about 15·T·B·H·4 bytes per layer and direction for
        H ≥ I, several times what the other cells keep.
    Layer inputs: the first layer reads a batch-first (B, T, I) tensor time-major, so it keeps a
        transposed copy (T·B·I·a; one per direction for RNN/GRU, one per layer for LSTM). Layer
        l > 1 reads the previous layer's time-major output as it is (one tensor of T·B·F) —
        except on the per-layer path (residual / layer norm), where a layer-norm output or a
        residual sum is batch-first again and is copied like the first layer's input.
        (With B = 1 or T = 1 both orders are contiguous and no copy is made.)
    Dropout (p > 0, training) keeps its mask, same size and dtype as its input, and makes a new
        output: after the embedding, between layers, before the head.
    Layer norm keeps its input and a mean and 1/std per position (2·B·T·4); residual sums keep
        nothing, but their result is a new tensor the next layer copies.
    Embedding keeps the token ids (8·B·T). The linear head keeps its input (B·T·F·a) and its
        logits (B·T·O·a) stay alive until the backward pass; cross-entropy keeps the log-softmax
        (B·T·O·4, always fp32) and the targets (8·B·T).
    The chapter's exercise 2 counts only the B·T·H hidden states of one tanh layer; this
    is what that count leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.diagnostics.memory import onednn
from rnnlab.diagnostics.memory.result import MemoryItem
from rnnlab.diagnostics.params import ModelSpec
from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import get_cell      # torch-free, like this module

# The cells whose PyTorch CPU kernels the formulas above follow; any other registered cell (a
# fused or step-loop layer) saves other tensors, so it gets an error rather than a wrong number.
MODELLED_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


@dataclass
class _Tensor:
    """An activation as the simulation sees it: size, element bytes and memory order."""
    numel: int
    itemsize: int
    time_major: bool          # stored (T, B, ...) — a transposed view when seen batch-first
    key: int

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


class _Trace:
    def __init__(self, spec: ModelSpec, batch: int, seq_len: int, low_precision: bool):
        self.spec, self.b, self.t = spec, batch, seq_len
        self.low = low_precision
        self.a = 2 if low_precision else 4
        self.items: list[MemoryItem] = []
        self._saved: set[int] = set()
        self._next = 0
        # With B = 1 or T = 1 a (B, T, ...) tensor and its (T, B, ...) transpose are both
        # contiguous, so none of the transposed copies below happen.
        self.order_free = batch == 1 or seq_len == 1
        self._held: dict[int, int] = {}     # live tensors nothing saves (yet)
        self.forward_peak = 0               # activation bytes at the fullest forward moment

    def hold(self, tensor: _Tensor) -> None:
        self._held[tensor.key] = tensor.nbytes

    def release(self, tensor: _Tensor) -> None:
        self._held.pop(tensor.key, None)

    @property
    def saved_bytes(self) -> int:
        return sum(item.nbytes for item in self.items)

    def moment(self, extra: int = 0) -> None:
        """A point of the forward pass: saved so far + held + `extra` transient bytes."""
        held = sum(n for key, n in self._held.items() if key not in self._saved)
        self.forward_peak = max(self.forward_peak, self.saved_bytes + held + extra)

    def new(self, numel: int, itemsize: int, time_major: bool) -> _Tensor:
        self._next += 1
        return _Tensor(numel, itemsize, time_major, self._next)

    def keep(self, tensor: _Tensor | None, name: str, formula: str, nbytes: int | None = None):
        """Record a tensor autograd saves (once per storage)."""
        if tensor is not None:
            if tensor.key in self._saved:
                return
            self._saved.add(tensor.key)
            nbytes = tensor.nbytes
        self.items.append(MemoryItem("activations", name, nbytes, formula))

    def cast(self, x: _Tensor) -> _Tensor:
        """Autocast's input cast for a matmul: fp32 → 2-byte copy (same memory order)."""
        if self.low and x.itemsize == 4:
            return self.new(x.numel, 2, x.time_major)
        return x

    def dropout(self, x: _Tensor, where: str) -> _Tensor:
        p = self.spec.dropout
        if p <= 0:
            return x
        self.keep(self.new(x.numel, x.itemsize, x.time_major), f"dropout mask ({where})",
                  f"{x.numel:,}·{x.itemsize}")
        return self.new(x.numel, x.itemsize, x.time_major)

    def linear_input(self, x: _Tensor, name: str, per: str) -> None:
        """A linear layer keeps its (cast) input, as a contiguous 2-D matrix."""
        x = self.cast(x)
        if x.time_major and not self.order_free:   # reshape copies a transposed view
            x = self.new(x.numel, x.itemsize, False)
        self.keep(x, name, f"{per}·{x.itemsize}")


def _label(layer: int, direction: int, num_directions: int) -> str:
    return f"layer {layer + 1}" + ((" reverse" if direction else " forward")
                                   if num_directions == 2 else "")


def _recurrent_module(tr: _Trace, x: _Tensor, first_layer: int, num_layers: int,
                      input_size: int) -> _Tensor:
    """One nn.RNN/LSTM/GRU call (batch_first) of `num_layers` layers; returns its output."""
    spec, b, t, h = tr.spec, tr.b, tr.t, tr.spec.hidden_size
    dirs, f = spec.num_directions, spec.features
    lstm = spec.cell == "lstm"
    states = num_layers * dirs * b * h
    if lstm:
        tr.keep(None, f"initial (h, c) of layers {first_layer + 1}..{first_layer + num_layers}",
                f"2·{num_layers}·{dirs}·B·H·4", 2 * 4 * states)
    elif not tr.low:
        tr.keep(None, f"initial h of layers {first_layer + 1}..{first_layer + num_layers}",
                f"{num_layers}·{dirs}·B·H·4", 4 * states)
    layer_input, size = x, input_size
    out = x
    for offset in range(num_layers):
        layer = first_layer + offset
        if lstm:
            u = tr.cast(layer_input)
            if not (u.time_major or tr.order_free):
                u = tr.new(t * b * size, u.itemsize, True)
            tr.keep(u, f"layer {layer + 1} input (time-major)", f"T·B·{size}·{u.itemsize}")
        outputs = []
        for direction in range(dirs):
            label = _label(layer, direction, dirs)
            if lstm:
                o = tr.new(t * b * h, tr.a, True)
                tr.keep(o, f"{label}: output", f"T·B·H·{tr.a}")
                tr.keep(None, f"{label}: final h, c", f"B·H·({tr.a}+4)", b * h * (tr.a + 4))
                tr.keep(None, f"{label}: oneDNN workspace", "see onednn_lstm_workspace_bytes",
                        onednn.onednn_lstm_workspace_bytes(b, t, size, h, tr.low))
                # inside the kernel: oneDNN's gate scratchpad and a reordered weight copy
                tr.moment(onednn.forward_scratch_bytes(b, t, size, h, tr.a))
                outputs.append(o)
                continue
            u = tr.cast(layer_input)
            if not (u.time_major or tr.order_free):   # each direction's input matmul copies
                u = tr.new(t * b * size, u.itemsize, True)
            tr.keep(u, f"{label}: input", f"T·B·{size}·{u.itemsize}")
            if spec.cell == "gru":
                if tr.low:
                    tr.keep(None, f"{label}: gates and states", "16·T·B·H", 16 * t * b * h)
                else:
                    tr.keep(None, f"{label}: gates and states", "(7T-1)·B·H·4",
                            (7 * t - 1) * b * h * 4)
            elif tr.low:
                tr.keep(None, f"{label}: hidden states h_0..h_T", "(T+1)·B·H·2",
                        (t + 1) * b * h * 2)
            else:
                tr.keep(None, f"{label}: hidden states h_1..h_T", "T·B·H·4", t * b * h * 4)
            # The input projection of all T steps (one matmul) lives until the layer ends, and
            # the steps are stacked into a (T, B, H) output: the layer's fullest moment.
            out_size = 4 if spec.cell == "gru" else tr.a
            gates = get_cell(spec.cell).gates * t * b * h * tr.a
            stacks = (direction + 1) * t * b * h * out_size
            concat = t * b * f * out_size if direction == 1 else 0
            # Under autocast a GRU step's fp32 output is not what the next step saves (that is
            # its 2-byte cast), so the list of step outputs is extra until it is stacked.
            steps = (direction + 1) * t * b * h * 4 if spec.cell == "gru" and tr.low else 0
            tr.moment(gates + stacks + concat + steps)
        # GRU's state stays fp32 under autocast (it mixes with the fp32 zero state).
        itemsize = 4 if spec.cell == "gru" else tr.a
        if lstm and dirs == 1:
            out = outputs[0]
        else:                        # stacked steps, or the concatenated directions
            out = tr.new(t * b * f, itemsize, True)
        tr.hold(out)
        if offset < num_layers - 1:
            dropped = tr.dropout(out, f"after layer {layer + 1}")
            if dropped is not out:
                tr.release(out)
                tr.hold(dropped)
            out = dropped
        if layer_input is not x:
            tr.release(layer_input)
        layer_input, size = out, f
    return out


def _encoder(tr: _Trace, x: _Tensor) -> _Tensor:
    spec, b, t = tr.spec, tr.b, tr.t
    if not spec.per_layer_modules:
        return _recurrent_module(tr, x, 0, spec.num_layers, spec.rnn_input_size)
    current, size = x, spec.rnn_input_size
    for layer in range(spec.num_layers):
        data = _recurrent_module(tr, current, layer, 1, size)
        if spec.layer_norm:
            tr.keep(data, f"layer {layer + 1}: layer-norm input", f"B·T·F·{data.itemsize}")
            tr.keep(None, f"layer {layer + 1}: layer-norm mean and 1/std", "2·B·T·4",
                    2 * b * t * 4)
            data = _replace(tr, data, tr.new(b * t * spec.features, data.itemsize, False))
        if spec.residual and size == spec.features:
            itemsize = max(data.itemsize, current.itemsize)
            data = _replace(tr, data, tr.new(b * t * spec.features, itemsize, data.time_major))
        if layer < spec.num_layers - 1:
            data = _replace(tr, data, tr.dropout(data, f"after layer {layer + 1}"))
        if current is not x:
            tr.release(current)
        current, size = data, spec.features
        tr.moment()
    return current


def _replace(tr: _Trace, old: _Tensor, new: _Tensor) -> _Tensor:
    """`new` takes the place of `old` in a Python variable: old is freed unless saved."""
    if new is not old:
        tr.hold(new)
        tr.moment()
        tr.release(old)
    return new


def _loss(tr: _Trace, rows: int, classes: int) -> None:
    tr.keep(None, "cross-entropy: log-softmax", f"{rows:,}·O·4", rows * classes * 4)
    tr.keep(None, "cross-entropy: targets", f"{rows:,}·8", rows * 8 + 4)


def _head(tr: _Trace, out: _Tensor) -> int:
    """Saves of the head and the loss; returns the bytes of the first gradients the backward
    pass makes (log-softmax and logits gradients)."""
    spec, b, t = tr.spec, tr.b, tr.t
    if spec.head == "none":
        tr.keep(out, "encoder outputs (held by the caller)", f"B·T·F·{out.itemsize}")
        return out.nbytes
    if spec.head in ("lm", "tagger"):
        out = _replace(tr, out, tr.dropout(out, "before the head"))
        tr.linear_input(out, "head input", "B·T·F")
        rows, classes = b * t, spec.head_outputs
    else:   # classifier: pool over time, then the linear head
        pooled = _pooling(tr, out)
        pooled = tr.dropout(pooled, "before the head")
        tr.linear_input(pooled, "head input (pooled)", "B·F")
        rows, classes = b, spec.output_size
    tr.keep(tr.new(rows * classes, tr.a, False), "logits (held by the caller)",
            f"{'B·T' if rows == b * t and spec.head != 'classifier' else 'B'}·O·{tr.a}")
    tr.moment()
    tr.release(out)
    _loss(tr, rows, classes)
    return rows * classes * (4 + tr.a)


def _pooling(tr: _Trace, out: _Tensor) -> _Tensor:
    spec, b, t, f = tr.spec, tr.b, tr.t, tr.spec.features
    if spec.pooling == "last":
        tr.keep(None, "last-step indices", "2·B·8", 2 * b * 8)
        return tr.new(b * f, out.itemsize, False)
    if spec.pooling == "mean":
        tr.keep(None, "padding mask", "B·T·1", b * t)
        tr.keep(None, "lengths", f"B·{out.itemsize}", b * out.itemsize)
        return tr.new(b * f, out.itemsize, False)
    if spec.pooling == "max":
        tr.keep(None, "padding mask", "B·T·1", b * t)
        tr.keep(None, "argmax indices", "B·F·8", b * f * 8)
        return tr.new(b * f, out.itemsize, False)
    # attention: score_t = v·tanh(W o_t + b), softmax over time, weighted sum
    tr.linear_input(out, "attention: projection input", "B·T·F")
    tr.keep(None, "attention: tanh", f"B·T·F·{tr.a}", b * t * f * tr.a)
    tr.keep(None, "attention: padding mask", "B·T·1", b * t)
    tr.keep(None, "attention: softmax", "B·T·4", b * t * 4)
    # The weighted sum is a bmm: it keeps the weights and the encoder outputs, both cast to
    # 2 bytes under autocast (fp32: the softmax itself and the outputs as they are, no copy).
    if tr.low:
        tr.keep(None, "attention: weights (2-byte)", "B·T·2", b * t * 2)
    tr.keep(tr.cast(out), "attention: values (encoder outputs)", f"B·T·F·{tr.a}")
    return tr.new(b * f, tr.a, False)                  # the bmm result: 2-byte under autocast


@dataclass
class ActivationModel:
    items: list[MemoryItem]     # what is alive at the end of the forward pass (exact)
    forward_peak: int           # activation bytes at the fullest moment of the forward pass
    backward_extra: int         # bytes the backward pass adds on top of the activations
    backward_end: int           # non-gradient bytes still live when the last gradient is made


def activation_model(spec: ModelSpec, batch_size: int, seq_len: int,
                     precision: str = "fp32") -> ActivationModel:
    """Simulate the forward pass: saved tensors, transient buffers, backward's first needs."""
    if spec.cell not in MODELLED_CELLS:
        raise RnnlabError(f"no memory model for cell {spec.cell!r}: the estimate follows the "
                          f"kernels of {', '.join(MODELLED_CELLS)}")
    tr = _Trace(spec, batch_size, seq_len, precision != "fp32")
    b, t, h = batch_size, seq_len, spec.hidden_size
    if spec.embedded:
        tr.keep(None, "token ids (embedding)", "B·T·8", b * t * 8)
        x = tr.new(b * t * spec.embedding_size, 4, False)          # the embedding is fp32
        tr.hold(x)
        x = _replace(tr, x, tr.dropout(x, "after the embedding"))
        inputs = None
    else:
        inputs = tr.new(b * t * spec.input_size, 4, False)          # user data: no gradient
        x = inputs
        if spec.dropout > 0:    # dropout on data without gradient keeps no mask
            x = tr.new(inputs.numel, 4, False)
            tr.hold(x)
    out = _encoder(tr, x)
    head_grads = _head(tr, out)
    tr.release(x)
    if inputs is not None:
        tr.keep(inputs, "inputs (held by the caller)", "B·T·I·4")
    # Backward: first the loss and head gradients; then the last recurrent layer's backward
    # runs with the gradient of its output (B·T·F) and, for oneDNN's LSTM, its scratch.
    last_input = spec.rnn_input_size if spec.num_layers == 1 else spec.features
    layer_grads = t * b * spec.features * tr.a
    if spec.cell == "lstm":
        layer_grads += onednn.backward_scratch_bytes(b, t, last_input, h)
    extra = max(head_grads, layer_grads)
    # End of the backward pass: the activations are freed, what the caller holds is not, and
    # the embedding's gradient arrives as a transposed and a contiguous (B, T, E) tensor.
    held = sum(item.nbytes for item in tr.items
               if "held by the caller" in item.name or item.name.startswith(("token ids",
                                                                             "cross-entropy: t")))
    backward_end = held + (2 * b * t * spec.embedding_size * 4 if spec.embedded else 0)
    return ActivationModel(tr.items, max(tr.forward_peak, tr.saved_bytes), extra, backward_end)


def activation_items(spec: ModelSpec, batch_size: int, seq_len: int,
                     precision: str = "fp32") -> list[MemoryItem]:
    """The activations alive at the end of the forward pass (what autograd saves, plus the
    outputs and inputs the caller holds)."""
    return activation_model(spec, batch_size, seq_len, precision).items
