"""`rnnlab sample`: generate text from a trained character language model."""

from __future__ import annotations

import sys

DESCRIPTION = """\
Generate text from a trained run. The model reads --prime once, then produces one character per
step, carrying its state. The prime is printed first, then the new text streams out as it is
produced. --temperature below 1 sharpens the distribution (0 is greedy), above 1 flattens it;
--top-k keeps only the K most likely characters; --top-p keeps the smallest set whose
probability reaches P.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="generate text from a trained language model",
                              description=DESCRIPTION)
    p.add_argument("run", metavar="RUN", help="run directory written by rnnlab train")
    p.add_argument("--prime", default="", help="text to start from")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--greedy", action="store_true", help="always take the most likely character")
    p.add_argument("--seed", type=int, help="random seed (same seed, same text)")
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--unknown", choices=("error", "skip"), default="error",
                   help="what to do with prime characters the model has never seen")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.set_defaults(func=run_sample)


def run_sample(args) -> int:
    from rnnlab.models.lm import CharLM
    from rnnlab.decoding import SamplingOptions

    options = SamplingOptions(temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, greedy=args.greedy)
    from rnnlab.train.run import resolve_device

    model = CharLM.from_pretrained(args.run, weights=args.weights).to(resolve_device(args.device))
    chars = model.generate(args.prime, args.length, options, seed=args.seed,
                           unknown=args.unknown, stream=True)
    first = next(chars, "")      # errors in the prime surface here, before anything is printed
    sys.stdout.write(args.prime + first)
    for ch in chars:
        sys.stdout.write(ch)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
