"""The training step the estimate describes, run for real and measured (tests and benchmarks).

`training_step` runs exactly this, and `measure_training_peak` profiles it:

    with autocast(precision):                  # fp32: no autocast; bf16 / fp16: CPU autocast
        outputs = model(inputs)                # lm / tagger: (B, T, O); classifier: (B, O)
        loss = cross_entropy(outputs, targets) # head none: loss = outputs.sum()
    loss.backward()
    optimizer.step(); optimizer.zero_grad(set_to_none=True)
"""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile

from rnnlab.diagnostics.memory.estimate import PRECISIONS
from rnnlab.diagnostics.params import ModelSpec, build_model
from rnnlab.errors import RnnlabError
from rnnlab.train.precision import autocast


def make_batch(spec: ModelSpec, batch_size: int, seq_len: int, generator=None):
    """Random inputs, (B, T) ids or (B, T, I) features, and targets, (B, T) or (B,) or None."""
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
    outputs = model(inputs)
    if spec.head == "lm":
        outputs = outputs[0]                                    # (B, T, V); drop the state
    if spec.head == "none":
        return outputs, outputs.sum()
    return outputs, F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def _autocast(precision: str):
    """The trainers' autocast; it knows fp32 and bf16 only (anything else runs in fp32), so fp16
    is CPU autocast's float16 here. No `resolve_precision`: the estimate is for any machine, so
    bf16 runs here even without AVX512-BF16 (emulated; the bytes are the same)."""
    if precision not in PRECISIONS:
        raise RnnlabError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp16":
        return torch.autocast("cpu", dtype=torch.float16)
    return autocast(precision, torch.device("cpu"))


def make_optimizer(name: str, parameters, lr: float = 1e-3):
    """The optimizer the estimate counts, or None. Not `make_adamw`: its fused AdamW skips the
    single-tensor step's temporaries that the estimate models (the peak test's classifier
    measures 333,812 bytes instead of 420,860); its decay groups would not change a byte."""
    parameters = list(parameters)
    if name in ("adam", "adamw"):
        return (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(parameters, lr=lr)
    if name in ("sgd-momentum", "sgd"):
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9 if name == "sgd-momentum" else 0)
    return None


def training_step(model, spec: ModelSpec, optimizer, batch_size: int, seq_len: int,
                  precision: str = "fp32", generator=None) -> float:
    """One step exactly as the estimate describes it; returns the loss."""
    inputs, targets = make_batch(spec, batch_size, seq_len, generator)
    with _autocast(precision):
        _, loss = forward_loss(model, spec, inputs, targets)
    loss.backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    else:
        model.zero_grad(set_to_none=True)
    return float(loss.detach())


def _add_storage(storages: dict[int, int], tensor) -> None:
    """Count a tensor's storage once, however many views of it there are."""
    storage = tensor.untyped_storage()
    storages.setdefault(storage.data_ptr(), storage.nbytes())


def measure_saved_activations(model, spec: ModelSpec, batch_size: int, seq_len: int,
                              precision: str = "fp32", generator=None) -> int:
    """Bytes autograd keeps for the backward pass of one forward (+ loss), measured with
    saved-tensor hooks: every saved tensor's storage counted once, parameters excluded, plus
    the outputs the caller holds. Under autocast this includes the weight copies that are
    saved (those only cached are not); with token inputs the ids are saved by the embedding."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor):
        if tensor.untyped_storage().data_ptr() not in params:
            _add_storage(storages, tensor)
        return tensor

    inputs, targets = make_batch(spec, batch_size, seq_len, generator)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
            _autocast(precision):
        outputs, _ = forward_loss(model, spec, inputs, targets)
    for held in (outputs, inputs):      # the caller holds both until the backward pass
        _add_storage(storages, held)
    return sum(storages.values())


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
    storages: dict[int, int] = {}
    for tensor in live:
        _add_storage(storages, tensor)
    baseline = sum(storages.values())
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        training_step(model, spec, opt, batch_size, seq_len, precision, generator)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = highest = 0
    for event in events:
        current += event.nbytes()
        highest = max(highest, current)
    return {"peak": baseline + highest, "baseline": baseline, "step_delta": highest}
