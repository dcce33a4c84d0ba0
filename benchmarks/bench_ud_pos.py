"""UPOS tagging of UD English EWT: dev accuracy (overall and OOV) after a fixed training budget.

    .venv/bin/python benchmarks/bench_ud_pos.py                 # 10 minutes of training on 2 threads
    .venv/bin/python benchmarks/bench_ud_pos.py --budget 20 --train-sentences 300 --no-write   # smoke test

Trains `rnnlab tag train`'s model (word embedding + character BiLSTM -> BiLSTM -> linear) on
en_ewt-ud-train.conllu from ../shared/data/ud_english_ewt for `--budget` seconds of training
(dev evaluations excluded from the budget), then scores the best checkpoint (by dev accuracy) on
the whole dev file: accuracy over all 25,147 words and over the words never seen in training.
The target is >= 94.5% overall; for scale, Plank, Søgaard & Goldberg (2016) report 94.6 for a
word + character BiLSTM tagger without pre-trained embeddings on UD 1.3 English.

The result goes into BENCHMARKS.md between <!-- ud-pos:start --> and <!-- ud-pos:end -->
(the command, the machine, the numbers, the dev curve); --no-write only prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import SHARED_DATA, command_line, machine_description, markdown_table, write_section  # noqa: E402

SECTION = "ud-pos"
DATA_DIR = SHARED_DATA / "ud_english_ewt"
TRAIN_FILE, DEV_FILE = "en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu"

# The benchmark's model and optimisation settings (the library defaults, written out so the
# report states exactly what ran).
MODEL = dict(cell="lstm", word_embedding_size=100, char_embedding_size=32, char_hidden_size=64,
             hidden_size=200, num_layers=1, dropout=0.33, word_dropout=0.05)
TRAINING = dict(batch_size=32, lr=2e-3, weight_decay=0.01, warmup_steps=100, min_lr_ratio=0.05,
                clip_norm=5.0, eval_interval=400, precision="fp32", seed=1234)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds of training (evaluation excluded)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--train-sentences", type=int,
                        help="use only the first N training sentences (smoke tests)")
    parser.add_argument("--hidden", type=int, default=MODEL["hidden_size"])
    parser.add_argument("--layers", type=int, default=MODEL["num_layers"])
    parser.add_argument("--batch-size", type=int, default=TRAINING["batch_size"])
    parser.add_argument("--lr", type=float, default=TRAINING["lr"])
    parser.add_argument("--eval-interval", type=int, default=TRAINING["eval_interval"])
    parser.add_argument("--out", type=Path, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    return parser.parse_args()


def cut_sentences(source: Path, count: int, target: Path) -> Path:
    blocks = [b for b in source.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    target.write_text("\n\n".join(blocks[:count]) + "\n\n", encoding="utf-8")
    return target


def count_words(path: Path) -> int:
    """Rows whose ID is a plain integer: syntactic words (no 1-2 ranges, no 1.1 empty nodes)."""
    with open(path, encoding="utf-8") as file:
        return sum(1 for line in file if line.split("\t", 1)[0].isdigit())


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from rnnlab.tasks.tag import evaluate_file, train_tagger
    from rnnlab.train.metrics import read_metrics

    train_path, dev_path = args.data_dir / TRAIN_FILE, args.data_dir / DEV_FILE
    for path in (train_path, dev_path):
        if not path.is_file():
            sys.exit(f"{path} not found (expected UD English EWT in {args.data_dir})")
    model = {**MODEL, "hidden_size": args.hidden, "num_layers": args.layers}
    training = {**TRAINING, "batch_size": args.batch_size, "lr": args.lr,
                "eval_interval": args.eval_interval, "max_time": args.budget}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as temp:
        if args.train_sentences:
            train_path = cut_sentences(train_path, args.train_sentences, Path(temp) / TRAIN_FILE)
        run_dir = args.out or Path(temp) / "run"
        started = time.perf_counter()
        result = train_tagger(train=str(train_path), dev=str(dev_path), out=run_dir, model=model,
                              training=training, progress_bar=False)
        wall = time.perf_counter() - started
        evaluated = time.perf_counter()
        score, _ = evaluate_file(run_dir, dev_path, weights="best")
        eval_seconds = time.perf_counter() - evaluated
        curve = [r for r in read_metrics(run_dir / "metrics.jsonl") if "dev_accuracy" in r]
        config = json.loads((run_dir / "config.json").read_text())
        train_tokens = count_words(train_path)
    load_after = os.getloadavg()

    tokens_per_s = result.epochs * train_tokens / result.train_time
    passed = "meets" if score.accuracy >= 0.945 else "misses"
    body = "\n".join([
        "## UPOS tagging, UD English EWT (`benchmarks/bench_ud_pos.py`)",
        "",
        f"Command: `{command_line()}` (from the repository root; {wall / 60:.1f} min wall time "
        "including data loading and dev evaluations).",
        "",
        f"Machine: {machine_description()}; load average "
        f"{' / '.join(f'{x:.1f}' for x in load_before)} before and "
        f"{' / '.join(f'{x:.1f}' for x in load_after)} after.",
        "",
        f"Data: {train_path.name} ({train_tokens:,} words"
        + (f", first {args.train_sentences} sentences only" if args.train_sentences else "")
        + f"), scored on the whole {dev_path.name}. Model: {json.dumps(config['model'])}. "
        f"Training: AdamW, warm-up then cosine over the time budget, "
        f"{json.dumps({k: v for k, v in training.items()})}.",
        "",
        markdown_table(
            ["training budget", "steps", "epochs", "train tokens/s", "dev UPOS accuracy",
             "dev OOV accuracy", "dev tokens", "OOV tokens"],
            [[f"{args.budget:.0f} s", result.step, f"{result.epochs:.2f}", f"{tokens_per_s:,.0f}",
              f"**{100 * score.accuracy:.2f}%**",
              f"{100 * score.oov_accuracy:.2f}%" if score.oov_total else "n/a",
              f"{score.total:,}", f"{score.oov_total:,}"]]),
        "",
        f"Best checkpoint: step {result.best_step}; it {passed} the 94.5% target (Plank et al. "
        "2016: 94.6 for a word + character BiLSTM without pre-trained embeddings, UD 1.3 English). "
        f"Scoring the dev file with the saved model took {eval_seconds:.1f} s.",
        "",
        "Dev accuracy during training (every evaluation):",
        "",
        markdown_table(["step", "epoch", "train time (s)", "dev accuracy", "dev OOV accuracy",
                        "dev loss (nats/token)"],
                       [[r["step"], f"{r['epoch']:.2f}", f"{r['train_time']:.0f}",
                         f"{100 * r['dev_accuracy']:.2f}%",
                         f"{100 * r['dev_oov_accuracy']:.2f}%" if "dev_oov_accuracy" in r else "n/a",
                         f"{r['dev_loss']:.4f}"] for r in curve]),
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"\nwrote the {SECTION} section of BENCHMARKS.md")


if __name__ == "__main__":
    from rnnlab.errors import RnnlabError

    try:
        main()
    except RnnlabError as err:  # a user mistake (bad path, too small a cut): one line, no traceback
        sys.exit(f"bench_ud_pos.py: error: {err}")
