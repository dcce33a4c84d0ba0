"""Character-LM benchmarks on tinyshakespeare (last 10% as validation), with baselines run
in the same process:

  (a) time to quality: validation loss after 80 s and 300 s of training with rnnlab's defaults,
      against a plain fp32 nn.LSTM loop (2×256, Adam 2e-3, batch 64, BPTT 128) given 80 s;
  (b) training throughput: rnnlab's training step against a plain fp32 nn.LSTM loop of the same
      size (2 layers × 512, batch 64, BPTT 128), interleaved repeats, medians; and the opt-in
      fused GRU kernel against a plain nn.GRU loop of that size;
  (c) sampling speed: characters per second for 2,000 sampled characters;
  and a machine-speed reference: nanoGPT's CPU recipe (baseline_gpt.py), whose time on the
      issue's machine is known (≈ 80 s), so (a) also trains for the issue's budgets scaled to
      this machine's speed.

Usage: .venv/bin/python benchmarks/bench_charlm.py [--budgets 80 300] [--skip-quality] [--skip-gpt]
Times count training steps only (evaluation is excluded), for rnnlab and baseline alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import SHARED_DATA, command_line, machine_description, markdown_table, write_section  # noqa: E402

from rnnlab.data.streams import StreamBatcher, split_train_val  # noqa: E402
from rnnlab.data.textfile import read_text  # noqa: E402
from rnnlab.data.vocab import CharVocab  # noqa: E402
from rnnlab.tasks.lm import LMTask, evaluate_lm, train_char_lm  # noqa: E402
from rnnlab.train.config import CharLMTrainConfig  # noqa: E402
from rnnlab.train.trainer import Trainer  # noqa: E402
from rnnlab.models.lm import CharLM, CharLMConfig  # noqa: E402
from rnnlab.decoding import SamplingOptions  # noqa: E402

CORPUS = SHARED_DATA / "tinyshakespeare" / "input.txt"
# The issue: nanoGPT's CPU recipe "reaches 1.886 in about 80 s" on the machine of the targets.
ISSUE_GPT_SECONDS = 80.0
BF16_NOTE = ("bf16 autocast is not available on this CPU (no AVX-512 BF16 / AMX; oneDNN refuses a "
             "bf16 LSTM), so `--precision auto` runs fp32 and this compares fp32 with fp32: the "
             "speed-up bf16 gives on supporting hardware cannot show here.\n")


class PlainLSTM(nn.Module):
    """What a user writes from the PyTorch docs: Embedding → nn.LSTM → Linear, fp32."""

    recurrent = nn.LSTM

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.rnn = self.recurrent(embedding, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)
        return self.head(out), state


class PlainGRU(PlainLSTM):
    """The same with nn.GRU."""

    recurrent = nn.GRU


def load_splits():
    text = read_text(CORPUS)
    vocab = CharVocab.from_text(text)
    train, val = split_train_val(vocab.encode(text), 0.1)
    return vocab, train, val


def plain_step_fn(model, optimizer, batcher):
    state = [None]

    def step():
        w = batcher.next_window()
        if w.reset_state:
            state[0] = None
        logits, new_state = model(w.x, state[0])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w.y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state[0] = (tuple(s.detach() for s in new_state) if isinstance(new_state, tuple)
                    else new_state.detach())
        return loss.item()
    return step


def baseline_time_to_quality(budget: float, vocab, train, val) -> float:
    torch.manual_seed(0)
    model = PlainLSTM(len(vocab), 128, 256, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    step = plain_step_fn(model, optimizer, StreamBatcher(train, 64, 128))
    spent = 0.0
    while spent < budget:
        t0 = time.perf_counter()
        step()
        spent += time.perf_counter() - t0
    lm = CharLM(CharLMConfig(vocab_size=len(vocab), cell="lstm", embedding_size=128,
                             hidden_size=256, num_layers=2))
    lm.load_state_dict(CharLM.upgrade_state_dict(model.state_dict()))   # its rnn.* names
    return evaluate_lm(lm, val).nats_per_char


def rnnlab_time_to_quality(budget: float, workdir: Path) -> tuple[float, int, str]:
    result = train_char_lm(data=str(CORPUS), out=workdir / f"run-{int(budget)}",
                           train={"max_time": budget, "sample_length": 0},
                           progress_bar=False, log=lambda m: None)
    return result.scores["loss"], result.step, str(result.run_dir)


def throughput(repeats: int, steps_per_repeat: int, vocab, train, cell: str = "lstm",
               fused_gru: bool = False) -> tuple[float, float, str]:
    """Median tokens/s of rnnlab's step and of the plain fp32 loop, interleaved."""
    size = dict(cell=cell, embedding_size=128, hidden_size=512, num_layers=2)
    tmp = Path(tempfile.mkdtemp())
    if fused_gru:
        size["cell"] = "gru_fused"
    config = CharLMTrainConfig(batch_size=64, bptt=128, max_steps=10**9)
    model = CharLM(CharLMConfig(vocab_size=len(vocab), **size))
    trainer = Trainer(tmp, LMTask(model, train, train[:10_000], config), config,
                      log=lambda m: None)
    torch.manual_seed(0)
    plain = (PlainLSTM if cell == "lstm" else PlainGRU)(len(vocab), 128, 512, 2)
    plain_step = plain_step_fn(plain, torch.optim.AdamW(plain.parameters(), lr=1e-3),
                               StreamBatcher(train, 64, 128))
    tokens = 64 * 128 * steps_per_repeat
    ours, theirs = [], []
    trainer.train_step(); plain_step()          # warm-up: allocator, oneDNN primitives
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps_per_repeat):
            trainer.train_step()
        ours.append(tokens / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(steps_per_repeat):
            plain_step()
        theirs.append(tokens / (time.perf_counter() - t0))
    return statistics.median(ours), statistics.median(theirs), trainer.precision


def sampling_speed(run_dir: str, length: int = 2000, repeats: int = 3) -> float:
    model = CharLM.from_pretrained(run_dir)
    rates = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        text = model.generate("ROMEO:\n", length, SamplingOptions(temperature=0.8), seed=seed)
        rates.append(len(text) / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=float, nargs="+", default=[80.0, 300.0])
    parser.add_argument("--baseline-budget", type=float, default=80.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps-per-repeat", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-gpt", action="store_true",
                        help="skip the nanoGPT-recipe machine-speed reference")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"benchmark data not found: {CORPUS}")
    vocab, train, val = load_splits()
    workdir = Path(tempfile.mkdtemp(prefix="bench-charlm-"))
    sections = [f"## Character LM (tinyshakespeare, last 10% validation)\n",
                f"Command: `{command_line()}`  \nMachine: {machine_description()}  \n"
                f"Date: {time.strftime('%Y-%m-%d')}\n"]

    ours, theirs, precision = throughput(args.repeats, args.steps_per_repeat, vocab, train)
    print(f"throughput: rnnlab {ours:,.0f} tok/s ({precision}) vs plain fp32 {theirs:,.0f} tok/s")
    sections.append("### (b) Training throughput, LSTM 2×512, batch 64, BPTT 128\n")
    sections.append(BF16_NOTE if precision == "fp32" else "")
    gru_ours, gru_theirs, _ = throughput(args.repeats, args.steps_per_repeat, vocab, train, "gru",
                                        fused_gru=True)
    print(f"GRU throughput: rnnlab {gru_ours:,.0f} tok/s vs plain fp32 nn.GRU {gru_theirs:,.0f} tok/s")
    sections.append(markdown_table(
        ["", "tokens/s (median)", "ratio"],
        [[f"rnnlab train step, LSTM (precision {precision})", f"{ours:,.0f}",
          f"{ours / theirs:.2f}×"],
         ["plain fp32 nn.LSTM loop", f"{theirs:,.0f}", "1.00×"],
         ["rnnlab train step, GRU of the same size, opt-in fused GRU kernel (fp32)",
          f"{gru_ours:,.0f}",
          f"{gru_ours / gru_theirs:.2f}×"],
         ["plain fp32 nn.GRU loop", f"{gru_theirs:,.0f}", "1.00×"]]) + "\n")
    sections.append("On a CPU, fp32 nn.LSTM already runs through oneDNN's fused LSTM, so "
                    "rnnlab's LSTM step is nn.LSTM's. The GRU rows time rnnlab's opt-in fused GRU "
                    "kernel (`rnnlab/nn/cells/fused_gru.py`, cell `gru_fused`) against nn.GRU's per-op loop.\n")

    scaled: list[int] = []
    if not args.skip_gpt:
        from baseline_gpt import run_recipe
        seconds, gpt_loss = run_recipe(torch.as_tensor(train).long(),
                                       torch.as_tensor(val).long(), len(vocab))
        print(f"nanoGPT CPU recipe: {seconds:.0f} s for 2,000 iterations, val {gpt_loss:.4f}")
        sections.append("### Machine-speed reference: nanoGPT's CPU recipe\n")
        sections.append(
            "nanoGPT's published CPU recipe for Shakespeare characters (4 layers, 4 heads, "
            "width 128, context 64, batch 12, 2,000 iterations; re-implemented in "
            "`benchmarks/baseline_gpt.py`). The issue reports it reaching 1.886 in about 80 s on "
            "the machine where the targets were set.\n")
        sections.append(markdown_table(
            ["machine", "seconds for 2,000 iterations", "val loss (whole split)"],
            [["the issue's machine (reported)", "≈ 80", "1.886"],
             ["this machine", f"{seconds:.0f}", f"{gpt_loss:.4f}"]]) + "\n")
        scaled = [round(budget * seconds / ISSUE_GPT_SECONDS) for budget in (80, 300)]
        sections.append(f"This machine takes {seconds / ISSUE_GPT_SECONDS:.1f}× as long for the "
                        f"same work, so the issue's 80-s and 300-s budgets correspond to about "
                        f"{scaled[0]} s and {scaled[1]} s here; (a) below also trains for those "
                        "budgets.\n")
        args.budgets = sorted(set(args.budgets) | set(scaled))

    if not args.skip_quality:
        rows = []
        base = baseline_time_to_quality(args.baseline_budget, vocab, train, val)
        print(f"baseline {args.baseline_budget:.0f}s: {base:.4f}")
        rows.append([f"plain fp32 nn.LSTM 2×256, Adam 2e-3, batch 64×128",
                     f"{args.baseline_budget:.0f}", f"{base:.4f}", "—", ""])
        targets = {80: "≤ 1.50", 300: "≤ 1.40"}
        for budget, label in zip(scaled, ("≤ 1.50 (the 80-s target in this machine's time)",
                                          "≤ 1.40 (the 300-s target in this machine's time)")):
            targets.setdefault(budget, label)
        last_run = None
        for budget in args.budgets:
            val_loss, steps, last_run = rnnlab_time_to_quality(budget, workdir)
            print(f"rnnlab {budget:.0f}s: {val_loss:.4f} after {steps} steps")
            rows.append(["rnnlab defaults (`rnnlab train --max-time "
                         f"{budget:.0f}`)", f"{budget:.0f}", f"{val_loss:.4f}", f"{steps}",
                         targets.get(round(budget), "")])
        sections.append("### (a) Time to quality (validation nats/char over the whole split)\n")
        sections.append(markdown_table(["model", "training seconds", "val loss", "steps",
                                        "issue's target"], rows) + "\n")
        chars_s = sampling_speed(last_run)
        print(f"sampling: {chars_s:,.0f} chars/s")
        sections.append("### (c) Sampling speed\n")
        sections.append(f"{chars_s:,.0f} characters/s (median of 3 × 2,000 characters, "
                        "temperature 0.8, batch 1, the model of the last budget above)\n")
    write_section("charlm", "\n".join(sections))


if __name__ == "__main__":
    main()
