"""Section 1.6: the character-level language model, trained and sampled with rnnlab.

The chapter trains a character RNN (Embedding 32 → RNN 64 → Linear) on four lines of Hamlet.
This example

1. counts what the chapter counts, on the same text: characters, distinct characters, training
   windows of 25 characters, and the model's parameters (`CharLM.num_parameters`);
2. reproduces the chapter's training loop batching (windows in batches of 32, the hidden state
   carried from batch to batch) with rnnlab's `CharLM`, and shows that it crashes on the last,
   shorter batch of the first epoch (and that the state it carries belongs to other text);
3. shows rnnlab's contiguous-stream batching (`StreamBatcher`), where row b of each window
   continues row b of the previous one and a short last window is handled;
4. trains the chapter's model with `rnnlab.tasks.lm.train_char_lm` (the function behind
   `rnnlab train`), writing a run directory with a loss plot;
5. samples from it at several temperatures (`CharLM.generate`, `rnnlab.decoding`) and measures
   how temperature changes the next-character distribution.

    python examples/s1_6_char_lm.py --out runs/           # the chapter's text
    python examples/s1_6_char_lm.py --text my.txt --steps 2000
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from rnnlab.data.streams import StreamBatcher, split_train_val
from rnnlab.data.textfile import read_text
from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError
from rnnlab.tasks.lm import evaluate_lm, lm_summary_line, train_char_lm
from rnnlab.models.lm import CharLM, CharLMConfig, detach_state
from rnnlab.decoding import SamplingOptions, filtered_logits

# The chapter's sample text: four lines of Hamlet (public domain).
CHAPTER_TEXT = """To be or not to be, that is the question.
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles"""

CHAPTER_MODEL = dict(cell="rnn_tanh", embedding_size=32, hidden_size=64, num_layers=1)
CHAPTER_SEQ_LENGTH = 25
CHAPTER_BATCH_SIZE = 32
TEMPERATURES = (0.0, 0.5, 0.8, 1.0, 1.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="train for a few steps only: a few seconds "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for the run (weights, metrics, loss.png); default: a new "
                             "temporary directory")
    parser.add_argument("--text", metavar="FILE",
                        help="any UTF-8 text instead of the chapter's four lines")
    parser.add_argument("--steps", type=int, help="training steps (default: 400, tiny: 30)")
    parser.add_argument("--prime", default="To be", help="start of the samples")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    args.out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnnlab-examples-"))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.steps is None:
        args.steps = 30 if args.tiny else 400
    return args


def chapter_counts(text: str, vocab: CharVocab) -> None:
    print("== 1. the chapter's counts, computed ==")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), **CHAPTER_MODEL))
    windows = len(text) - CHAPTER_SEQ_LENGTH
    print(f"  text length: {len(text)} characters")
    print(f"  distinct characters (vocabulary): {len(vocab)}: {''.join(vocab.chars)!r}")
    print(f"  first 50 characters encoded: {vocab.encode(text[:50]).tolist()}")
    print(f"  training windows of {CHAPTER_SEQ_LENGTH} characters: {len(text)} - "
          f"{CHAPTER_SEQ_LENGTH} = {windows}")
    print(f"  CharRNN(embedding 32, RNN 64) parameters: {model.num_parameters():,}")
    for name, p in model.named_parameters():
        print(f"    {name:<20} {str(tuple(p.shape)):<9} {p.numel():>5,}")
    print()


def chapter_loop(ids: np.ndarray, vocab_size: int) -> None:
    """The chapter's batching: overlapping windows, batches of 32, state carried across batches."""
    print("== 2. the chapter's training loop, first epoch ==")
    windows = np.lib.stride_tricks.sliding_window_view(ids, CHAPTER_SEQ_LENGTH + 1)  # (N, 26)
    x_all = torch.as_tensor(windows[:, :-1].copy())                       # (N, 25) inputs
    y_all = torch.as_tensor(windows[:, 1:].copy())                        # (N, 25) targets
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=vocab_size, **CHAPTER_MODEL))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    hidden = None
    for start in range(0, len(x_all), CHAPTER_BATCH_SIZE):
        batch_x = x_all[start:start + CHAPTER_BATCH_SIZE]
        batch_y = y_all[start:start + CHAPTER_BATCH_SIZE]
        state_rows = "none" if hidden is None else hidden.shape[1]
        print(f"  batch at window {start:>3}: x {tuple(batch_x.shape)}, carried state rows "
              f"{state_rows}", end="")
        try:
            logits, hidden = model(batch_x, hidden)
        except (RuntimeError, RnnlabError) as err:   # rnnlab's encoder checks the state first
            print(f"\n  -> {type(err).__name__}: {str(err).splitlines()[0]}")
            print(f"  The last batch has {len(batch_x)} windows ({len(x_all)} = "
                  f"{len(x_all) // CHAPTER_BATCH_SIZE}·{CHAPTER_BATCH_SIZE} + "
                  f"{len(x_all) % CHAPTER_BATCH_SIZE}) but the carried state has "
                  f"{CHAPTER_BATCH_SIZE} rows: the loop crashes in epoch 1.")
            break
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), batch_y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        hidden = hidden.detach()
        print(f", loss {loss.item():.3f}")
    gap = CHAPTER_BATCH_SIZE - CHAPTER_SEQ_LENGTH
    print(f"  Even before the crash the carried state is not the right context: row b of the "
          f"next batch is window\n  b + {CHAPTER_BATCH_SIZE}, which starts {gap} characters "
          f"after the end of window b, whose state it receives.")
    print()


def stream_batching(train_ids: np.ndarray, batch_size: int, bptt: int, vocab_size: int) -> None:
    print(f"== 3. rnnlab's stream batching (batch {batch_size}, bptt {bptt}) on the training "
          "split ==")
    batcher = StreamBatcher(train_ids, batch_size, bptt)
    print(f"  {len(train_ids)} characters -> {batch_size} contiguous streams of "
          f"{batcher.stream_length} targets, {len(batcher)} windows per epoch, "
          f"{batcher.unused_targets} targets left over")
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=vocab_size, **CHAPTER_MODEL))
    state = None
    with torch.no_grad():
        for index, (x, y) in enumerate(batcher):
            logits, state = model(x, state)
            state = detach_state(state)
            print(f"  window {index}: x {tuple(x.shape)}, y {tuple(y.shape)}, logits "
                  f"{tuple(logits.shape)}; state {tuple(state.shape)} carried on")
    print("  The short last window is fine: the batch size never changes, only the length.")
    print()


def next_char_entropy(model: CharLM, prime: str, temperature: float) -> float:
    """Entropy in bits of the next-character distribution after `prime` at a temperature."""
    ids = torch.as_tensor(model.vocab.encode(prime), dtype=torch.long)[None]
    with torch.no_grad():
        logits, _ = model(ids)
    if temperature == 0:
        return 0.0                                            # greedy: a point mass
    probs = torch.softmax(filtered_logits(logits[:, -1], SamplingOptions(temperature)), dim=-1)
    nonzero = probs[probs > 0]
    return float(-(nonzero * nonzero.log2()).sum())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.text:
        text, text_path = read_text(args.text), Path(args.text)
    else:
        text, text_path = CHAPTER_TEXT, args.out / "hamlet.txt"
        text_path.write_text(text, encoding="utf-8")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    chapter_counts(text, vocab)
    chapter_loop(ids, len(vocab))

    batch_size, bptt = 2, CHAPTER_SEQ_LENGTH
    train_ids, _ = split_train_val(ids, 0.1)
    stream_batching(train_ids, batch_size, bptt, len(vocab))

    print(f"== 4. training the chapter's model with train_char_lm, {args.steps} steps ==")
    run_dir = args.out / "charlm"
    result = train_char_lm(
        data=str(text_path), out=run_dir, model=dict(CHAPTER_MODEL),
        train=dict(batch_size=batch_size, bptt=bptt, lr=1e-2, warmup_steps=10, clip_norm=5.0,
                   max_steps=args.steps,
                   eval_interval=args.steps if args.tiny else max(args.steps // 4, 1),
                   val_fraction=0.1, sample_length=0, seed=0),
        progress_bar=False, log=lambda message: print("  " + message))
    model = CharLM.from_pretrained(run_dir, weights="last")
    train_score = evaluate_lm(model, train_ids, batch_size=4, bptt=64)
    print(f"  stopped by {result.stopped_by} after {result.step} steps")
    print(f"  training text: {train_score.summary()}")
    print(f"  held-out last 10%: {lm_summary_line(result.scores)}")
    print(f"  (uniform guessing is ln {len(vocab)} = {math.log(len(vocab)):.4f} nats/char; a "
          "few lines of text can be memorised, not generalised from: use --text for real data)")
    print(f"  loss plot: {run_dir / 'loss.png'}")
    print()

    print(f"== 5. sampling after {args.prime!r} (seed 0) ==")
    length = 60 if args.tiny else 120
    for temperature in TEMPERATURES:
        options = SamplingOptions(temperature=temperature)
        sample = model.generate(args.prime, length, options, seed=0, unknown="skip")
        entropy = next_char_entropy(model, args.prime, temperature)
        label = "greedy" if temperature == 0 else f"T={temperature:g}"
        print(f"  {label:<6} next-char entropy {entropy:5.3f} bits | {args.prime + sample!r}")
    print("  Higher temperature flattens the distribution (more entropy, more surprises); "
          "T -> 0 is greedy decoding.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
