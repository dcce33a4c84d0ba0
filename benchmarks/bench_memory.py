"""Estimated vs measured training memory (`rnnlab memory` against a real CPU training step).

    .venv/bin/python benchmarks/bench_memory.py            # ~15 s (2 cores); rewrites its section
    .venv/bin/python benchmarks/bench_memory.py --quick    # two tiny configurations, seconds
    .venv/bin/python benchmarks/bench_memory.py --no-write # print only

For each configuration it compares, for one steady-state training step (the one
`rnnlab.diagnostics.memory.training_step` runs: forward and loss under the precision's autocast,
backward, optimizer step, zero_grad(set_to_none=True)):

  activations  the estimate's end-of-forward activations vs what autograd actually saved,
               measured with torch.autograd.graph.saved_tensors_hooks (every saved storage once,
               parameters excluded, plus the outputs and inputs the caller holds);
  peak         the estimate's peak vs the measured peak: torch.profiler with profile_memory=True
               records every allocation and free of torch's CPU allocator during the step; their
               running sum's maximum, plus the bytes live when the step starts (parameters and
               optimizer state, counted from the objects), is the peak. This counts tensor memory
               only (not the Python heap, not allocator caching), which is what the estimate
               models. A warm-up step first creates the optimizer state, as in every later step.

Target: the estimated peak within 25% of the measured one. Memory does not depend on load, but
the section records the load average anyway.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import command_line, machine_description, markdown_table, write_section  # noqa: E402

from rnnlab.diagnostics.memory.estimate import estimate_training_memory  # noqa: E402
from rnnlab.diagnostics.memory.measure import measure_saved_activations, measure_training_peak  # noqa: E402
from rnnlab.diagnostics.memory.result import mib  # noqa: E402
from rnnlab.diagnostics.params import ModelSpec, build_model, count_parameters  # noqa: E402
from rnnlab.train.precision import cpu_supports_bf16  # noqa: E402

SECTION = "memory"

# (label, spec, batch, seq_len, precision, optimizer)
CONFIGS = [
    ("char LM, LSTM 2×256", ModelSpec(cell="lstm", vocab_size=65, embedding_size=64,
                                      hidden_size=256, num_layers=2, head="lm"), 32, 64,
     "fp32", "adamw"),
    ("char LM, LSTM 1×512, dropout 0.2", ModelSpec(cell="lstm", vocab_size=65,
                                                   embedding_size=128, hidden_size=512,
                                                   head="lm", dropout=0.2), 16, 128,
     "fp32", "adam"),
    ("char LM, GRU 1×256", ModelSpec(cell="gru", vocab_size=65, embedding_size=64,
                                     hidden_size=256, head="lm"), 32, 64, "fp32", "adam"),
    ("char LM, GRU 1×256", ModelSpec(cell="gru", vocab_size=65, embedding_size=64,
                                     hidden_size=256, head="lm"), 32, 64, "bf16", "adam"),
    ("char LM, tanh RNN 1×512, tied", ModelSpec(cell="rnn_tanh", vocab_size=65,
                                                embedding_size=512, hidden_size=512, head="lm",
                                                tie_weights=True), 32, 64, "fp32", "sgd"),
    ("sentiment model (chapter 1.5)", ModelSpec(cell="rnn_tanh", vocab_size=5000,
                                                embedding_size=100, hidden_size=128,
                                                head="classifier", output_size=2), 32, 50,
     "fp32", "adam"),
    ("sentiment model (chapter 1.5)", ModelSpec(cell="rnn_tanh", vocab_size=5000,
                                                embedding_size=100, hidden_size=128,
                                                head="classifier", output_size=2), 32, 50,
     "bf16", "sgd-momentum"),
    ("POS tagger, BiLSTM 2×128", ModelSpec(cell="lstm", vocab_size=5000, embedding_size=100,
                                           hidden_size=128, num_layers=2, bidirectional=True,
                                           head="tagger", output_size=17), 32, 40,
     "fp32", "adam"),
    ("tagger, GRU 3×128, layer norm + residual", ModelSpec(
        cell="gru", input_size=64, hidden_size=128, num_layers=3, layer_norm=True,
        residual=True, head="tagger", output_size=10), 16, 50, "fp32", "adam"),
    ("classifier, BiGRU, attention pooling", ModelSpec(
        cell="gru", vocab_size=2000, embedding_size=64, hidden_size=128, bidirectional=True,
        head="classifier", output_size=5, pooling="attention", dropout=0.3), 32, 60,
     "bf16", "adamw"),
]

QUICK = [
    ("tiny LSTM LM", ModelSpec(cell="lstm", vocab_size=20, embedding_size=8, hidden_size=16,
                               head="lm"), 4, 6, "fp32", "adam"),
    ("tiny GRU tagger", ModelSpec(cell="gru", input_size=5, hidden_size=8, bidirectional=True,
                                  head="tagger", output_size=3), 3, 7, "fp32", "sgd"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two tiny configurations")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()

    import torch

    configs = QUICK if args.quick else CONFIGS
    bf16_lstm_ok = cpu_supports_bf16()
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows, ratios, skipped = [], [], []
    for label, spec, batch, seq_len, precision, optimizer in configs:
        if precision != "fp32" and spec.cell == "lstm" and not bf16_lstm_ok:
            skipped.append(f"{label} ({precision}): this CPU has no bf16 support for oneDNN's "
                           "LSTM")
            continue
        estimate = estimate_training_memory(spec, batch, seq_len, precision, optimizer)
        torch.manual_seed(0)
        model = build_model(spec)
        model.train()
        saved = measure_saved_activations(model, spec, batch, seq_len, precision,
                                          torch.Generator().manual_seed(0))
        # Under autocast the measured saved bytes include the weight copies autograd keeps.
        estimated_saved = estimate.total("activations")
        if precision != "fp32":
            estimated_saved = None      # weight copies: cached vs saved differ; peak covers them
        measured = measure_training_peak(spec, batch, seq_len, precision, optimizer)
        ratio = estimate.peak_bytes / measured["peak"]
        ratios.append(ratio)
        phase = max(estimate.phases, key=estimate.phases.get)
        rows.append([
            label, f"{count_parameters(spec):,}", f"B={batch}, T={seq_len}", precision, optimizer,
            (f"{mib(estimated_saved):.3f} / {mib(saved):.3f}" if estimated_saved is not None
             else f"{mib(estimate.total('activations')):.3f} / (incl. weight copies) "
                  f"{mib(saved):.3f}"),
            f"{mib(estimate.peak_bytes):.3f}", phase, f"{mib(measured['peak']):.3f}",
            f"{ratio:.3f}",
        ])
        print(f"{label} [{precision}, {optimizer}]: estimated peak {mib(estimate.peak_bytes):.2f}"
              f" MiB, measured {mib(measured['peak']):.2f} MiB, ratio {ratio:.3f}", flush=True)
    elapsed = time.perf_counter() - start
    load_after = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = max(load_before[0], load_after[0]) > 0.5 * cores
    worst = max(abs(r - 1) for r in ratios) if ratios else float("nan")

    header = ["configuration", "parameters", "batch", "precision", "optimizer",
              "activations MiB: estimated / saved (hooks)", "estimated peak MiB", "peak phase",
              "measured peak MiB", "estimate / measured"]
    body = "\n".join([
        "## Training memory: estimate vs measurement (`benchmarks/bench_memory.py`)",
        "",
        f"Command: `{command_line()}` (from the repository root; {elapsed:.0f} s).",
        "",
        f"Machine: {machine_description()}; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after" + (" — the machine was busy (other jobs); memory figures "
                                         "do not depend on load" if busy else "") + ".",
        "",
        "One steady-state training step on the CPU (forward + cross-entropy under the "
        "precision's autocast, backward, optimizer step). *Saved (hooks)*: bytes autograd "
        "saved, measured with `saved_tensors_hooks` (plus the outputs and inputs the caller "
        "holds). *Measured peak*: `torch.profiler` memory events (every allocation and free of "
        "torch's CPU allocator) summed over the step, maximum, plus the parameters and "
        "optimizer state live at its start. *Peak phase*: where the estimate puts the fullest "
        "moment (forward / backward / end of backward / optimizer step).",
        "",
        markdown_table(header, rows),
        "",
        f"Largest deviation of the estimated peak: {100 * worst:.1f}% (target: within 25%).",
    ] + ([""] + [f"Skipped: {s}." for s in skipped] if skipped else []))
    print()
    print(body)
    if not args.no_write and not args.quick:
        write_section(SECTION, body)
        print(f"\nwrote the {SECTION} section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
