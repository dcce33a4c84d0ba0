"""`rnnlab eval`: score a trained language model on any text."""

from __future__ import annotations

import json

DESCRIPTION = """\
Evaluate a trained run on a text: the mean loss per predicted character over the whole text in
nats/char, bits/char (nats / ln 2) and perplexity (e^nats). Every character but the first is
predicted once, with the state carried along contiguous streams.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a language model on a text",
                              description=DESCRIPTION)
    p.add_argument("run", metavar="RUN", help="run directory written by rnnlab train")
    p.add_argument("--data", metavar="FILE|DIR", required=True, help="UTF-8 text to score")
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--unknown", choices=("error", "skip"), default="error",
                   help="what to do with characters the model has never seen")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=256)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.set_defaults(func=run_eval)


def run_eval(args) -> int:
    from rnnlab.data.textfile import read_text
    from rnnlab.errors import RnnlabError
    from rnnlab.tasks.lm import evaluate_lm
    from rnnlab.models.lm import CharLM

    from rnnlab.train.run import resolve_device

    model = CharLM.from_pretrained(args.run, weights=args.weights).to(resolve_device(args.device))
    ids = model.vocab.encode(read_text(args.data), unknown=args.unknown)
    if len(ids) < 2:
        raise RnnlabError(f"{args.data}: need at least 2 known characters to evaluate, "
                          f"got {len(ids)}")
    score = evaluate_lm(model, ids, batch_size=args.batch_size, bptt=args.bptt)
    print(json.dumps(score.as_dict()) if args.json else score.summary())
    return 0
