"""Parallel-scan cells (minGRU, minLSTM) against nn.GRU and nn.LSTM on tinyshakespeare.

  (a) which scan: a minGRU char-LM training step with the chunked, the log-space (Heinsen) and
      the sequential scan, tokens/s at each BPTT; and the float32 error of each against a
      float64 loop over one 2,048-step window (outputs and weight gradients);
  (b) training throughput: the char LM's training step (embedding 64, 2 layers × 256, batch 64)
      with minGRU, minLSTM, nn.GRU and nn.LSTM at BPTT 128, 512 and 2,048; interleaved rounds,
      medians. The issue's target: minGRU ≥ 3× nn.GRU at 512, the ratio growing with length;
  (c) quality per second: REF = the time nanoGPT's CPU recipe (baseline_gpt.py) takes on this
      machine, measured in the same run. A short sweep picks the best minGRU configuration
      (each candidate trained for REF/4 s); that configuration and the default GRU are then
      each trained by `train_char_lm` for REF seconds and scored on the whole last 10%
      (`evaluate_lm`).

Usage (under the shared lock; about 15 minutes):
    flock /tmp/rnnlab-bench.lock timeout 3000 .venv/bin/python benchmarks/bench_parallel_scan.py
Training times count training steps only (evaluation excluded), for every model alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import SHARED_DATA, command_line, machine_description, markdown_table, write_section  # noqa: E402

from rnnlab.data.streams import StreamBatcher, split_train_val  # noqa: E402
from rnnlab.data.textfile import read_text  # noqa: E402
from rnnlab.data.vocab import CharVocab  # noqa: E402
from rnnlab.models.lm import CharLM, CharLMConfig, detach_state  # noqa: E402
from rnnlab.nn.cells.scanlayer import ScanRNN  # noqa: E402
from rnnlab.tasks.lm import evaluate_lm, train_char_lm  # noqa: E402
from rnnlab.train.run import synchronize  # noqa: E402

CORPUS = SHARED_DATA / "tinyshakespeare" / "input.txt"
CELLS = ("mingru", "minlstm", "gru", "lstm")
SIZE = dict(embedding_size=64, hidden_size=256, num_layers=2)      # the char LM's default size
BATCH = 64
TOKENS_PER_ROUND = 64 * 512        # each timed round runs at least this many tokens per model

# The sweep's candidates: (label, model options, training options). Options not given are the
# char LM's defaults (AdamW lr 7e-3, batch 64, BPTT 32, clip 1.0, cosine over the time budget).
RESIDUAL_NORM = dict(residual=True, layer_norm=True)
SWEEP = [
    ("2×256 (the GRU's size), BPTT 128", dict(SIZE), dict(bptt=128)),
    ("3×512, residual + layer norm, BPTT 128, lr 3e-3",
     dict(SIZE, hidden_size=512, num_layers=3, **RESIDUAL_NORM), dict(bptt=128, lr=3e-3)),
    ("3×512, residual + layer norm, BPTT 64, lr 3e-3",
     dict(SIZE, hidden_size=512, num_layers=3, **RESIDUAL_NORM), dict(bptt=64, lr=3e-3)),
    ("4×384, residual + layer norm, BPTT 128, lr 3e-3",
     dict(SIZE, hidden_size=384, num_layers=4, **RESIDUAL_NORM), dict(bptt=128, lr=3e-3)),
]


def load_splits():
    text = read_text(CORPUS)
    vocab = CharVocab.from_text(text)
    train, val = split_train_val(vocab.encode(text), 0.1)
    return vocab, train, val


def set_scan(model: nn.Module, scan: str) -> None:
    for module in model.modules():
        if isinstance(module, ScanRNN):
            module.scan = scan


class TrainStep:
    """One char-LM training step as the trainer runs it (fp32): stream windows, carried detached
    state, cross-entropy, AdamW, clipping at 1.0."""

    def __init__(self, cell: str, vocab_size: int, train: np.ndarray, bptt: int, scan=None,
                 device: str = "cpu"):
        torch.manual_seed(0)
        self.device = torch.device(device)
        self.model = CharLM(CharLMConfig(vocab_size=vocab_size, cell=cell, **SIZE)).to(device)
        if scan is not None:
            set_scan(self.model, scan)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.batcher = StreamBatcher(train, BATCH, bptt)
        self.state = None
        self.bptt = bptt

    def __call__(self) -> int:
        window = self.batcher.next_window()
        if window.reset_state:
            self.state = None
        x, y = window.x.to(self.device), window.y.to(self.device)
        logits, state = self.model(x, self.state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.state = detach_state(state)
        return window.y.numel()


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"the GPU ({torch.cuda.get_device_name(torch.device(device))})"
    return "the CPU"


def interleaved_throughput(steps: dict[str, TrainStep], rounds: int) -> dict[str, float]:
    """Median tokens/s per entry over `rounds` interleaved rounds (after one warm-up step)."""
    for step in steps.values():
        step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            synchronize(step.device)
            tokens, t0 = 0, time.perf_counter()
            while tokens < TOKENS_PER_ROUND:
                tokens += step()
            synchronize(step.device)
            rates[name].append(tokens / (time.perf_counter() - t0))
    return {name: statistics.median(values) for name, values in rates.items()}


# -- (a) the scan ------------------------------------------------------------------------------
# The sequential loop records T autograd steps per layer: timed at short windows only (at 512
# one of its steps took about a minute on the shared machine).
SEQUENTIAL_UP_TO = 128


def scan_speed(vocab, train, lengths, rounds) -> list[list]:
    rows = []
    for bptt in lengths:
        scans = ("chunked", "log") + (("sequential",) if bptt <= SEQUENTIAL_UP_TO else ())
        steps = {scan: TrainStep("mingru", len(vocab), train, bptt, scan) for scan in scans}
        rates = interleaved_throughput(steps, rounds)
        print(f"scan, BPTT {bptt}: " + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items()),
              flush=True)
        rows.append([f"{bptt:,}"] + [f"{rates[s]:,.0f}" if s in rates else "not timed"
                                     for s in ("chunked", "log", "sequential")])
    return rows


def scan_accuracy(vocab, train, length: int = 2048) -> list[list]:
    """float32 chunked / log-space against a float64 sequential loop: max |difference| relative
    to the largest entry, of the logits and of the recurrent weights' gradients."""
    torch.manual_seed(0)
    reference = CharLM(CharLMConfig(vocab_size=len(vocab), cell="mingru", **SIZE)).double()
    set_scan(reference, "sequential")
    x = torch.as_tensor(train[:8 * length].reshape(8, length)).long()
    y = torch.as_tensor(train[1:8 * length + 1].reshape(8, length)).long()

    def run(model):
        model.zero_grad()
        logits, _ = model(x)
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1)).backward()
        grads = torch.cat([p.grad.double().flatten() for name, p in model.named_parameters()
                           if name.startswith("encoder.")])
        return logits.detach().double(), grads

    expected_logits, expected_grads = run(reference)
    rows = []
    for scan in ("chunked", "log"):
        model = CharLM(CharLMConfig(vocab_size=len(vocab), cell="mingru", **SIZE))
        model.load_state_dict({k: v.float() for k, v in reference.state_dict().items()})
        set_scan(model, scan)
        logits, grads = run(model)
        errors = [float((got - want).abs().max() / want.abs().max())
                  for got, want in ((logits, expected_logits), (grads, expected_grads))]
        print(f"float32 {scan}: logits {errors[0]:.1e}, gradients {errors[1]:.1e}", flush=True)
        rows.append([scan, f"{errors[0]:.1e}", f"{errors[1]:.1e}"])
    return rows


# -- (b) throughput ----------------------------------------------------------------------------
def throughput(vocab, train, lengths, rounds, device: str = "cpu") -> tuple[list[list], dict]:
    rows, ratios = [], {}
    for bptt in lengths:
        steps = {cell: TrainStep(cell, len(vocab), train, bptt, device=device) for cell in CELLS}
        rates = interleaved_throughput(steps, rounds)
        ratios[bptt] = {cell: rates[cell] / rates["gru"] for cell in CELLS}
        print(f"BPTT {bptt}: " + ", ".join(f"{c} {rates[c]:,.0f} tok/s ({ratios[bptt][c]:.2f}×)"
                                           for c in CELLS), flush=True)
        rows.append([f"{bptt:,}"] + [f"{rates[c]:,.0f}" for c in CELLS]
                    + [f"{ratios[bptt]['mingru']:.2f}×", f"{ratios[bptt]['minlstm']:.2f}×",
                       f"{rates['mingru'] / rates['lstm']:.2f}×"])
    return rows, ratios


# -- (c) quality per second --------------------------------------------------------------------
def train_for(budget: float, workdir: Path, name: str, model: dict, train: dict, val_ids):
    """train_char_lm for `budget` training seconds; the whole validation split's loss."""
    result = train_char_lm(data=str(CORPUS), out=workdir / name, model=model,
                           train={"max_time": budget, "sample_length": 0, "auto_size": False,
                                  "eval_interval": 10**9, **train},
                           progress_bar=False, log=lambda message: None)
    lm = CharLM.from_pretrained(result.run_dir, weights="last")
    return evaluate_lm(lm, val_ids).nats_per_char, result.step


def sweep(budget: float, workdir: Path, val_ids) -> tuple[list[list], tuple]:
    """Each SWEEP candidate trained for `budget` s; (table rows, the best candidate)."""
    rows, losses = [], []
    for index, (label, model, train) in enumerate(SWEEP):
        loss, steps = train_for(budget, workdir, f"trial-{index}", dict(model, cell="mingru"),
                                train, val_ids)
        print(f"sweep {label}: {loss:.4f} after {steps} steps", flush=True)
        rows.append([label, f"{loss:.4f}", f"{steps:,}"])
        losses.append(loss)
    return rows, SWEEP[losses.index(min(losses))]


SECTION = "parallel-scan"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--device", default="cpu",
                        help="where (b) runs: cpu, or cuda on a GPU machine (benchmarks/gpu_check.sh)")
    parser.add_argument("--section", default=SECTION,
                        help="the BENCHMARKS.md section to write (another name keeps the "
                             "default section, e.g. one record per kind of machine)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"benchmark data not found: {CORPUS}")
    vocab, train, val = load_splits()
    started = time.perf_counter()
    title = "Parallel-scan cells: minGRU and minLSTM against nn.GRU and nn.LSTM"
    if args.section != SECTION:
        title += f" ({args.section})"
    sections = [f"## {title}\n",
                f"Command: `{command_line()}`  \nMachine: {machine_description()}  \n"
                f"Date: {time.strftime('%Y-%m-%d')}\n",
                "The char LM's training step (fp32, AdamW, clipping, carried state) on "
                f"{device_name(args.device)}, with "
                f"embedding {SIZE['embedding_size']}, {SIZE['num_layers']} layers × "
                f"{SIZE['hidden_size']} of each cell, batch {BATCH}; tokens/s are medians of "
                f"{args.rounds} interleaved rounds of at least {TOKENS_PER_ROUND:,} tokens per "
                "model, after a warm-up step.\n"]

    if not args.skip_scan:
        speed = scan_speed(vocab, train, args.lengths, 2)
        accuracy = scan_accuracy(vocab, train)
        sections.append("### (a) Which scan: minGRU training tokens/s by scan algorithm\n")
        sections.append(markdown_table(["BPTT", "chunked (default)", "log-space (Heinsen)",
                                        "sequential loop"], speed) + "\n")
        sections.append(f"(Medians of 2 rounds. The sequential loop is timed up to BPTT "
                        f"{SEQUENTIAL_UP_TO} only: it records T autograd steps per layer.)\n")
        sections.append("float32 against a float64 sequential loop, one batch of 8 × 2,048 "
                        "characters through the same minGRU 2×256 (max |difference| / max |value|):"
                        "\n")
        sections.append(markdown_table(["scan", "logits", "recurrent weight gradients"],
                                       accuracy) + "\n")

    if not args.skip_throughput:
        rows, ratios = throughput(vocab, train, args.lengths, args.rounds, args.device)
        sections.append("### (b) Training throughput (tokens/s)\n")
        sections.append(markdown_table(
            ["BPTT", "minGRU", "minLSTM", "nn.GRU", "nn.LSTM", "minGRU / nn.GRU",
             "minLSTM / nn.GRU", "minGRU / nn.LSTM"], rows) + "\n")
        if 512 in ratios:
            met = ratios[512]["mingru"] >= 3.0
            growing = all(ratios[a]["mingru"] < ratios[b]["mingru"]
                          for a, b in zip(args.lengths, args.lengths[1:]))
            sections.append(f"Target minGRU ≥ 3× nn.GRU at BPTT 512: **{'met' if met else 'not met'}"
                            f"** ({ratios[512]['mingru']:.2f}×); ratio growing with length: "
                            f"**{'yes' if growing else 'no'}**.\n")

    if not args.skip_quality:
        from baseline_gpt import run_recipe

        ref, gpt_loss = run_recipe(torch.as_tensor(train).long(), torch.as_tensor(val).long(),
                                   len(vocab))
        print(f"REF = nanoGPT CPU recipe: {ref:.0f} s, val {gpt_loss:.4f}", flush=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-minquality-"))
        sweep_rows, (label, model, options) = sweep(ref / 4, workdir, val)
        gru_loss, gru_steps = train_for(ref, workdir, "gru", {}, {}, val)
        print(f"default GRU, {ref:.0f} s: {gru_loss:.4f} after {gru_steps} steps", flush=True)
        min_loss, min_steps = train_for(ref, workdir, "mingru", dict(model, cell="mingru"),
                                        options, val)
        print(f"best minGRU ({label}), {ref:.0f} s: {min_loss:.4f} after {min_steps} steps",
              flush=True)
        winner = "minGRU" if min_loss < gru_loss else "the default GRU"
        sections.append("### (c) Quality per second (validation nats/char, whole last 10%)\n")
        sections.append(
            f"REF = {ref:.0f} s, the time nanoGPT's CPU recipe (`benchmarks/baseline_gpt.py`, "
            f"2,000 iterations; val loss {gpt_loss:.4f}) took in this run. Training seconds "
            "count training steps only; every model is trained by `train_char_lm` (AdamW, "
            "clipping 1.0, cosine over the time budget, fp32 on this CPU) and scored by "
            "`evaluate_lm` on the whole validation split.\n")
        sections.append(f"Sweep: minGRU candidates, {ref / 4:.0f} s each (options not listed "
                        "are the char LM's defaults: lr 7e-3, batch 64, embedding 64):\n")
        sections.append(markdown_table(["minGRU configuration", "val loss", "steps"],
                                       sweep_rows) + "\n")
        sections.append(f"The best of these, trained for REF, against the default GRU "
                        "(the configuration was chosen on the same validation split it is "
                        "scored on, as the GRU default was in BENCHMARKS.md's char-LM sweep):\n")
        sections.append(markdown_table(
            ["model", "training seconds", "val loss", "steps"],
            [["default GRU (2×256, embedding 64, BPTT 32, lr 7e-3)", f"{ref:.0f}",
              f"{gru_loss:.4f}", f"{gru_steps:,}"],
             [f"best minGRU: {label}", f"{ref:.0f}", f"{min_loss:.4f}", f"{min_steps:,}"]])
            + "\n")
        sections.append(f"Lower is better: **{winner}** wins at equal training time "
                        f"({min_loss - gru_loss:+.4f} nats/char for minGRU). For scale, the "
                        "minGRU paper reports 1.548 on Shakespeare characters in its own "
                        "setting.\n")
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    write_section(args.section, "\n".join(sections))


if __name__ == "__main__":
    main()
