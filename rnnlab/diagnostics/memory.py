"""Training-memory estimate of a recurrent model: parameters, gradients, optimizer state and the
activations autograd keeps for the backward pass, for a batch size, sequence length and precision.

The training step it describes (`training_step` runs exactly this, and the benchmark measures it):

    with autocast(precision):                  # fp32: no autocast; bf16 / fp16: CPU autocast
        outputs = model(inputs)                # lm / tagger: (B, T, O); classifier: (B, O)
        loss = cross_entropy(outputs, targets) # head none: loss = outputs.sum()
    loss.backward()
    optimizer.step(); optimizer.zero_grad(set_to_none=True)

Fixed costs (P = number of parameters; master weights stay fp32 in every precision)
    parameters   4·P bytes
    gradients    4·P bytes
    optimizer    Adam/AdamW: exp_avg and exp_avg_sq, 8·P (+ a 4-byte step counter per tensor);
                 SGD with momentum: one buffer, 4·P; plain SGD / none: 0
    autocast     bf16/fp16: the 2-byte copies of the weights and biases that autocast makes for
                 its matmuls and caches until the autocast region ends (autograd keeps most of
                 them for the backward pass): 2 bytes per entry; the embedding and layer norm
                 are not cast

Activations: what autograd saves, derived from the CPU kernels of PyTorch 2.x
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
        (T, B, H), the final h and c, the zero initial (h, c), and a *workspace*. The workspace
        size follows oneDNN's layout (rnn_utils: every part starts on a 4096-byte page; leading
        dimensions are padded to 64 bytes, and past any multiple of 256 elements):
            gates        T·B·ld(4H)·g        ht           T·B·ld(H)·s
            states       2·(T+1)·B·ld(max(I, H))·s        c states     2·(T+1)·B·H·4
            diff states  2 × 2·(T+1)·B·ld(max(I, H))·4    diff c       2·(T+1)·B·H·4
        with s = g = 4 bytes in fp32 (2 in bf16). It is about 15·T·B·H·4 bytes per layer and
        direction for H ≥ I: several times what the other cells keep.
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

Peak (the fullest moment of a steady-state step; `MemoryEstimate.phases`)
    The items never all live at once: gradients appear as the backward pass frees activations,
    and Adam updates its state after that. The estimate follows the step through time:
        forward          fixed + activations saved so far + what is alive but not saved: the
                         embedding output, each RNN/GRU layer's input projection of all T steps
                         (T·B·G·H·a) and its stacked (T, B, H) output, oneDNN's gate scratchpad
                         (T·B·4H·4) and reordered weights inside an LSTM call
        backward         fixed + all activations + the larger of the loss/logits gradients and
                         the last recurrent layer's output gradient (T·B·F·a; for oneDNN's LSTM
                         plus its backward scratchpad, input gradient and weight copies)
        end of backward  fixed + all gradients + what the caller still holds (+ the embedding
                         gradient's two (B, T, E) layouts)
        optimizer step   parameters + gradients + optimizer state + Adam's temporaries
                         (single-tensor Adam, the CPU default: sqrt(v) and its scaled copy of
                         one tensor while the previous tensor's is still referenced)
    with fixed = parameters + optimizer state + autocast copies. The end-of-forward activations
    are exact (tested against saved-tensor hooks); the transient terms were checked against the
    profiler's measured peaks (benchmarks/bench_memory.py: within a few per cent).

Everything here models the CPU kernels (oneDNN LSTM, PyTorch's native RNN/GRU loop). On a CUDA
device cuDNN keeps a different reserve space; the fixed costs are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnlab.diagnostics.params import GATES, ModelSpec, count_parameters, parameter_breakdown
from rnnlab.errors import RnnlabError

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adam", "adamw", "sgd-momentum", "sgd", "none")
CATEGORIES = ("parameters", "gradients", "optimizer", "autocast", "activations")
MIB = 1024 * 1024
PAGE = 4096


@dataclass(frozen=True)
class MemoryItem:
    category: str       # one of CATEGORIES
    name: str
    nbytes: int
    formula: str = ""


@dataclass
class MemoryEstimate:
    spec: ModelSpec
    batch_size: int
    seq_len: int
    precision: str
    optimizer: str
    items: list[MemoryItem]
    forward_activation_peak: int      # activations + transient buffers, fullest forward moment
    backward_extra: int               # gradients the backward pass adds on top of activations
    backward_end: int                 # held tensors + last transients, when all grads exist
    optimizer_step_temporaries: int
    notes: list[str] = field(default_factory=list)

    def total(self, category: str | None = None) -> int:
        return sum(i.nbytes for i in self.items if category is None or i.category == category)

    @property
    def total_bytes(self) -> int:
        """Every item at once (parameters, gradients, optimizer, autocast, activations)."""
        return self.total()

    @property
    def phases(self) -> dict[str, int]:
        """Bytes live at the fullest moment of each phase of a steady-state step."""
        fixed = self.total("parameters") + self.total("optimizer") + self.total("autocast")
        acts = self.total("activations")
        return {
            "forward": fixed + self.forward_activation_peak,
            "backward": fixed + acts + self.backward_extra,
            "end of backward": fixed + self.total("gradients") + self.backward_end,
            "optimizer step": (self.total("parameters") + self.total("gradients")
                               + self.total("optimizer") + self.optimizer_step_temporaries),
        }

    @property
    def peak_bytes(self) -> int:
        return max(self.phases.values())

    def format_table(self, detail: bool = True) -> str:
        rows: list[tuple[str, str, int]] = []
        for category in CATEGORIES:
            items = [i for i in self.items if i.category == category]
            if not items:
                continue
            if detail and category == "activations":
                for item in items:
                    rows.append((category, item.name, item.nbytes))
            if category == "activations":
                name = "(total)" if detail else "saved for backward + held by the caller"
            else:
                name = items[0].name if len(items) == 1 else "(total)"
            rows.append((category, name, self.total(category)))
        name_width = max(len(r[1]) for r in rows + [("", "item", 0)])
        byte_width = max(len(f"{max(self.total_bytes, self.peak_bytes):,}"), len("bytes"))
        header = f"{'category':<12} {'item':<{name_width}}  {'bytes':>{byte_width}}  {'MiB':>10}"
        lines = [header, "-" * len(header)]
        for category, name, nbytes in rows:
            lines.append(f"{category:<12} {name:<{name_width}}  {nbytes:>{byte_width},}  "
                         f"{nbytes / MIB:>10.3f}")
        lines.append("-" * len(header))
        width = 12 + 1 + name_width
        for label, value in (("sum of the rows above", self.total_bytes),
                             ("estimated peak (fullest moment of a step)", self.peak_bytes)):
            lines.append(f"{label:<{width}}  {value:>{byte_width},}  {value / MIB:>10.3f}")
        phases = ", ".join(f"{name} {value / MIB:.3f}" for name, value in self.phases.items())
        lines.append(f"  fullest moment of each phase (MiB): {phases}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines) + "\n"


# -- oneDNN's LSTM workspace -------------------------------------------------------------------
def _good_ld(dim: int, itemsize: int) -> int:
    """oneDNN's leading dimension: a multiple of 64 bytes, bumped off multiples of 256."""
    step = 64 // itemsize
    ld = -(-dim // step) * step
    return ld + step if ld % 256 == 0 else ld


def _pages(nbytes: int) -> int:
    return -(-nbytes // PAGE) * PAGE


def onednn_lstm_workspace_bytes(batch: int, seq_len: int, input_size: int, hidden_size: int,
                                low_precision: bool = False) -> int:
    """Bytes of the workspace one oneDNN LSTM layer (one direction) keeps for backward.

    Verified byte-exact against torch 2.x on the CPU in fp32; the bf16 layout (2-byte states and
    gates, fp32 cell state and diff states) follows oneDNN's source.
    """
    s = 2 if low_precision else 4        # states, gates, ht
    acc = 4                              # diff states accumulate in fp32
    b, t, h = batch, seq_len, hidden_size
    wide = max(input_size, hidden_size)
    parts = [
        t * b * _good_ld(4 * h, s) * s,                  # gates
        t * b * _good_ld(h, s) * s,                      # ht
        2 * (t + 1) * b * _good_ld(wide, s) * s,         # states (layer = iter)
        2 * (t + 1) * b * h * 4,                         # c states
        2 * (t + 1) * b * _good_ld(wide, acc) * acc,     # diff states layer
        2 * (t + 1) * b * _good_ld(wide, acc) * acc,     # diff states iter
        2 * (t + 1) * b * h * acc,                       # diff c states
    ]
    return sum(_pages(p) for p in parts)


def _onednn_forward_scratch(batch: int, seq_len: int, input_size: int, hidden_size: int,
                            itemsize: int) -> int:
    """Transient bytes inside one oneDNN LSTM forward call: the gate scratchpad of all steps
    (fp32) and the weights reordered into oneDNN's layout (measured to within ~10%)."""
    gates = seq_len * batch * _good_ld(4 * hidden_size, 4) * 4
    weights = 4 * hidden_size * (input_size + hidden_size) * itemsize
    return gates + weights


def _onednn_backward_scratch(batch: int, seq_len: int, input_size: int, hidden_size: int,
                             itemsize: int) -> int:
    """Transient bytes of one oneDNN LSTM backward call: the gate scratchpad, the input
    gradient, the weight gradients plus two reordered weight copies, the state gradients."""
    gates = seq_len * batch * _good_ld(4 * hidden_size, 4) * 4
    weights = 3 * 4 * hidden_size * (input_size + hidden_size) * 4
    return gates + seq_len * batch * input_size * 4 + weights + 4 * batch * hidden_size * 4


# -- a symbolic forward pass -------------------------------------------------------------------
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
                        onednn_lstm_workspace_bytes(b, t, size, h, tr.low))
                # inside the kernel: oneDNN's gate scratchpad and a reordered weight copy
                tr.moment(_onednn_forward_scratch(b, t, size, h, tr.a))
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
            gates = GATES[spec.cell] * t * b * h * tr.a
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
        layer_grads += _onednn_backward_scratch(b, t, last_input, h, tr.a)
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


def adam_step_temporaries(spec: ModelSpec) -> int:
    """PyTorch's single-tensor Adam (the CPU default) computes, per parameter tensor,
    sqrt(exp_avg_sq) and its scaled copy; the previous tensor's `denom` is still referenced
    while the next one is made. Peak: max over consecutive tensors of 2·n_i + n_(i-1)."""
    sizes = [tensor.count for tensor in parameter_breakdown(spec)]
    worst = max(2 * n + (sizes[i - 1] if i else 0) for i, n in enumerate(sizes))
    return 4 * worst


def _autocast_weight_bytes(spec: ModelSpec) -> int:
    """2 bytes per parameter a matmul uses (recurrent, pooling and head weights and biases;
    not the embedding lookup, not layer norm): autocast's cached copies."""
    total = sum(t.count for t in parameter_breakdown(spec)
                if t.component in ("recurrent", "head", "pooling"))
    if spec.head == "lm" and spec.tie_weights:
        total += spec.vocab_size * spec.hidden_size   # the tied head still casts the matrix
    return 2 * total


def estimate_training_memory(spec: ModelSpec, batch_size: int, seq_len: int,
                             precision: str = "fp32", optimizer: str = "adam") -> MemoryEstimate:
    """The memory of one training step of `build_model(spec)` (see the module docstring)."""
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
    if precision not in PRECISIONS:
        raise RnnlabError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if optimizer not in OPTIMIZERS:
        raise RnnlabError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    params = count_parameters(spec)
    tensors = len(parameter_breakdown(spec))
    items = [MemoryItem("parameters", "fp32 weights", 4 * params, "4·P"),
             MemoryItem("gradients", "fp32 gradients", 4 * params, "4·P")]
    step_temporaries = 0
    if optimizer in ("adam", "adamw"):
        items.append(MemoryItem("optimizer", f"{optimizer}: exp_avg, exp_avg_sq, step",
                                8 * params + 4 * tensors, "8·P + 4 per tensor"))
        step_temporaries = adam_step_temporaries(spec)
    elif optimizer == "sgd-momentum":
        items.append(MemoryItem("optimizer", "sgd: momentum buffer", 4 * params, "4·P"))
    if precision != "fp32":
        items.append(MemoryItem("autocast", f"{precision} copies of matmul weights",
                                _autocast_weight_bytes(spec), "2 per weight or bias entry"))
    model = activation_model(spec, batch_size, seq_len, precision)
    items += model.items
    notes = []
    if precision != "fp32" and spec.cell == "lstm":
        notes.append("LSTM under CPU autocast runs oneDNN's bf16 kernel (needs AVX512-BF16 or "
                     "AMX); its saved tensors follow oneDNN's layout and were not measured "
                     "on a machine without that support")
    return MemoryEstimate(spec, batch_size, seq_len, precision, optimizer, items,
                          model.forward_peak, model.backward_extra, model.backward_end,
                          step_temporaries, notes)


# -- the step the estimate describes (used by the tests and the benchmark) ---------------------
def make_batch(spec: ModelSpec, batch_size: int, seq_len: int, generator=None):
    """Random inputs and targets for one training step (batch-first)."""
    import torch

    if spec.embedded:
        inputs = torch.randint(0, spec.vocab_size, (batch_size, seq_len), generator=generator)
    else:
        inputs = torch.randn(batch_size, seq_len, spec.input_size, generator=generator)
    if spec.head in ("lm", "tagger"):
        targets = torch.randint(0, spec.head_outputs, (batch_size, seq_len), generator=generator)
    elif spec.head == "classifier":
        targets = torch.randint(0, spec.output_size, (batch_size,), generator=generator)
    else:
        targets = None
    return inputs, targets


def forward_loss(model, spec: ModelSpec, inputs, targets):
    """outputs and loss of the step (call inside the autocast context)."""
    from torch.nn import functional as F

    outputs = model(inputs)
    if spec.head == "lm":
        outputs = outputs[0]                                    # (B, T, V); drop the state
    if spec.head == "none":
        return outputs, outputs.sum()
    return outputs, F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def autocast_context(precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def make_optimizer(name: str, parameters, lr: float = 1e-3):
    import torch

    parameters = list(parameters)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr)
    if name == "sgd-momentum":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    return None


def training_step(model, spec: ModelSpec, optimizer, batch_size: int, seq_len: int,
                  precision: str = "fp32", generator=None) -> float:
    """One step exactly as the estimate describes it; returns the loss."""
    inputs, targets = make_batch(spec, batch_size, seq_len, generator)
    with autocast_context(precision):
        _, loss = forward_loss(model, spec, inputs, targets)
    loss.backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    else:
        model.zero_grad(set_to_none=True)
    return float(loss.detach())


def mib(nbytes: int) -> float:
    return nbytes / MIB


# -- measurement (tests and benchmarks) ----------------------------------------------------------
def measure_saved_activations(model, spec: ModelSpec, batch_size: int, seq_len: int,
                              precision: str = "fp32", generator=None) -> int:
    """Bytes autograd keeps for the backward pass of one forward (+ loss), measured with
    saved-tensor hooks: every saved tensor's storage counted once, parameters excluded, plus
    the outputs the caller holds. Under autocast this includes the weight copies that are
    saved (those only cached are not); with token inputs the ids are saved by the embedding."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            storages.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    inputs, targets = make_batch(spec, batch_size, seq_len, generator)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
            autocast_context(precision):
        outputs, _ = forward_loss(model, spec, inputs, targets)
    for held in (outputs, inputs):      # the caller holds both until the backward pass
        storage = held.untyped_storage()
        storages.setdefault(storage.data_ptr(), storage.nbytes())
    return sum(storages.values())


def _live_bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen.setdefault(storage.data_ptr(), storage.nbytes())
    return sum(seen.values())


def measure_training_peak(spec: ModelSpec, batch_size: int, seq_len: int,
                          precision: str = "fp32", optimizer: str = "adam",
                          seed: int = 0) -> dict:
    """Measured peak bytes of one steady-state training step on the CPU.

    How: build the model, run one warm-up step (so the optimizer state exists, as in every step
    after the first), then profile the next step with `torch.profiler` and
    `profile_memory=True`. The profiler reports every allocation and free of torch's CPU
    allocator; their running sum is the memory the step adds, and its maximum plus the bytes
    already live when it starts (parameters and optimizer state, counted from the objects) is
    the peak. This sees tensors only, not the Python heap or allocator caches, which is what
    the estimate describes. Returns {"peak", "baseline", "step_delta"} in bytes.
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    from rnnlab.diagnostics.params import build_model

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_model(spec)
    model.train()
    opt = make_optimizer(optimizer, model.parameters())
    training_step(model, spec, opt, batch_size, seq_len, precision, generator)
    live = list(model.parameters())
    if opt is not None:
        for state in opt.state.values():
            live += [v for v in state.values() if isinstance(v, torch.Tensor)]
    live += [p.grad for p in model.parameters() if p.grad is not None]
    baseline = _live_bytes(live)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        training_step(model, spec, opt, batch_size, seq_len, precision, generator)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = highest = 0
    for event in events:
        current += event.nbytes()
        highest = max(highest, current)
    return {"peak": baseline + highest, "baseline": baseline, "step_delta": highest}
