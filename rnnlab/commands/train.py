"""`rnnlab train`: train a character-level language model (or continue one with --resume)."""

from __future__ import annotations

from rnnlab.commands.options import (CELL_HELP, Formatter, add_options, add_run_options,
                                     add_training_options, given_options, print_training_result,
                                     resume_overrides, training_options)
from rnnlab.models.configs import CharLMConfig
from rnnlab.train.config import CharLMTrainConfig

DESCRIPTION = """\
Train a character-level language model on any UTF-8 text (or, with no --data, on the built-in
default corpus: Shakespeare's plays). Batches are contiguous streams; the hidden state carries,
detached, from one window to the next (truncated BPTT). The run directory receives config.json,
vocab.json, model.safetensors (last), best.safetensors (best validation loss), trainer state,
metrics.jsonl and loss.png. Validation loss is reported over the whole held-out split in
nats/char, bits/char and perplexity. Ctrl-C saves and exits; --resume RUN continues exactly.

Model size from the budget: options not given (--cell, --hidden, --layers, --dropout, --lr,
--batch-size) are chosen from the training budget, the size of the text and this machine's
speed (measured in a few steps at start-up, at the run's precision), so more time or more text
gives a larger, better regularised model: a GRU in fp32, an LSTM with bf16, where it runs
faster. The choice and the reason are printed and written to config.json. Explicit options
win; --no-auto-size keeps the fixed defaults.

--engine numpy trains the NumPy reference engine instead (teaching; small models): its own
defaults are a tanh RNN 1×100, embedding 100, batch 32, BPTT 25, constant Adagrad lr 0.1, clip
5.0, float32 (--precision fp64: float64); it writes run.json, vocab.json and weights.npz to
--out when given.
"""

MODEL_OPTIONS = (
    ("--cell", "cell", str, CELL_HELP),
    ("--layers", "num_layers", int, "recurrent layers"),
    ("--hidden", "hidden_size", int, "hidden size"),
    ("--embedding", "embedding_size", int, "embedding size"),
    ("--dropout", "dropout", float, "dropout between layers and before the output (and on the "
                                    "embeddings unless --embedding-dropout is given)"),
    ("--embedding-dropout", "embedding_dropout", float,
     "dropout on the character embeddings (default: --dropout; the budget rule uses 0)"),
)
LM_TRAINING_OPTIONS = (
    ("--bptt", "bptt", int, "characters per window"),
    ("--val-fraction", "val_fraction", float, "held-out share at the end of the text (without --val)"),
    ("--sample-length", "sample_length", int, "characters sampled at each evaluation (0: none)"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a character-level language model",
                              description=DESCRIPTION, formatter_class=Formatter)
    src = p.add_argument_group("data")
    src.add_argument("--data", metavar="FILE|DIR", help="UTF-8 text file or folder of files")
    src.add_argument("--dataset", metavar="NAME",
                     help="a named public dataset downloaded into the cache (tinyshakespeare)")
    src.add_argument("--val", metavar="FILE",
                     help="separate validation text (default: the last --val-fraction)")
    add_run_options(p, "runs/charlm-TIME")
    p.add_argument("--engine", choices=("torch", "numpy"), default="torch",
                   help="torch: the fast PyTorch model; numpy: the reference engine (teaching; "
                        "small models) (default: torch)")
    model = p.add_argument_group(
        "model", "Not given, --cell, --layers, --hidden, --dropout, --embedding-dropout (and\n"
        "--lr, --batch-size) are chosen for the budget; the defaults shown are --no-auto-size's.")
    add_options(model, MODEL_OPTIONS, CharLMConfig)
    model.add_argument("--tie-weights", action="store_true",
                       help="share the embedding and output matrices (needs --embedding == --hidden)")
    model.add_argument("--residual", action="store_true",
                       help="residual connections between recurrent layers")
    model.add_argument("--layer-norm", action="store_true",
                       help="layer norm on each recurrent layer's outputs")
    model.add_argument("--no-auto-size", dest="auto_size", action="store_false", default=None,
                       help="keep the fixed defaults (GRU 2×256, no dropout, lr 7e-3, batch 64) "
                            "instead of sizing the model for the budget")
    add_training_options(p, CharLMTrainConfig, LM_TRAINING_OPTIONS)
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    if args.engine == "numpy":
        from rnnlab.commands.train_numpy import run_numpy_train
        return run_numpy_train(args)
    from rnnlab.tasks.lm import lm_summary_line, train_char_lm

    common = dict(progress_bar=not args.no_progress, device=args.device)
    if args.resume:
        if args.auto_size is False:
            from rnnlab.errors import RnnlabError
            raise RnnlabError("--no-auto-size cannot be given with --resume: the run keeps the "
                              "model it started with")
        result = train_char_lm(resume=args.resume, overrides=resume_overrides(args), **common)
    else:
        flags = {name: True for name in ("tie_weights", "residual", "layer_norm")
                 if getattr(args, name)}
        result = train_char_lm(
            data=args.data, dataset=args.dataset, val=args.val, out=args.out,
            model={**given_options(args, MODEL_OPTIONS), **flags},
            train={**training_options(args, LM_TRAINING_OPTIONS),
                   **({"auto_size": False} if args.auto_size is False else {})}, **common)
    return print_training_result(result, lambda scores: f"validation: {lm_summary_line(scores)}")
