"""`rnnlab demo`: the README's main job — train on the built-in corpus, evaluate, sample."""

from __future__ import annotations

import time

DESCRIPTION = """\
Train a character-level language model on the built-in default corpus (Shakespeare's plays)
for a few minutes, with the `rnnlab train` defaults (the model sized for the budget by the same
rule: a GRU in fp32, an LSTM with bf16), report its validation loss (nats/char, bits/char,
perplexity), and print a sample. The run directory can then be used with `rnnlab sample`, `rnnlab eval` and
`rnnlab train --resume`.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train on the built-in corpus for a few minutes, "
                              "then sample", description=DESCRIPTION)
    p.add_argument("--max-time", type=float, default=180.0, help="seconds of training")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo-TIME)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (plain progress lines instead)")
    p.set_defaults(func=run_demo)


def run_demo(args) -> int:
    from rnnlab.decoding import SamplingOptions
    from rnnlab.models.lm import CharLM
    from rnnlab.tasks.lm import lm_summary_line, train_char_lm

    out = args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S")
    result = train_char_lm(out=out, train={"max_time": args.max_time, "eval_interval": 500,
                                           "sample_length": 0},
                           progress_bar=not args.no_progress)
    if result.stopped_by == "interrupted":
        return 130
    print(f"\nvalidation after {result.train_time:.0f} s of training: {lm_summary_line(result.scores)}")
    model = CharLM.from_pretrained(result.run_dir)
    print("\nsample (temperature 0.8, seed 0):\n")
    prime = "ROMEO:\n"
    print(prime + model.generate(prime, 600, SamplingOptions(temperature=0.8), seed=0))
    print(f"\nrun saved in {result.run_dir}; try: rnnlab sample {result.run_dir} --prime 'JULIET:'")
    return 0
