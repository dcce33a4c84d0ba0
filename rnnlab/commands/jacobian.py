"""`rnnlab jacobian`: step Jacobians of the recurrent state along a real trajectory."""

from __future__ import annotations


from rnnlab.commands.gradflow import (
    add_data_arguments,
    add_model_arguments,
    model_and_batch,
    require_positive,
)
from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Compute the exact Jacobian J_t = ∂s_t/∂s_(t-1) of each layer's recurrent state at every step of
one real sequence (--seq-len characters of the text), and how their product shrinks or grows.
The state s is h, or (h, c) side by side for an LSTM. Elman RNNs use the closed form
diag(f'(a_t)) W_hh; LSTM and GRU use autograd (torch.func.jacrev). Computed in float64.
"""

EPILOG = """\
output:
  a table by k = steps back from the last step T:
    log10‖P‖   log10 of the spectral norm of P = ∂s_T/∂s_(T-k) = J_T ⋯ J_(T-k+1), the largest
               factor by which k steps of backpropagation can scale a gradient
    σmax(J)    the largest singular value of that step's Jacobian J_(T-k+1)
  one summary line per layer: the final product norm, its fitted per-step factor, the median
  and largest σmax(J_t), and the spectral radius ρ of W_hh (of each H×H gate block for LSTM/GRU);
  and a PNG: left, log10‖P‖ against k (dotted: ρ(W_hh)^k for Elman RNNs); right, σmax(J_t)
  against t with the line σ = 1.

The model and data options are those of `rnnlab gradflow`.

cost: every step needs one Jacobian (closed form, or S backward passes with autograd) and two
largest-singular-value computations on S×S matrices (S = H, or 2H for an LSTM). That is
instant for H = 128; for an LSTM with H = 512 (S = 1024) allow about a second per step and
layer on a laptop-class CPU: shorten --seq-len or choose a --layer.
"""


def register(subparsers) -> None:
    parser = add_command(subparsers, "jacobian",
                         "exact step Jacobians and their products along a real sequence",
                         DESCRIPTION, EPILOG)
    add_model_arguments(parser)
    add_data_arguments(parser, seq_len=100, batch_size=None)
    parser.add_argument("--layer", type=int, metavar="N",
                        help="only this layer (1-based; default: every layer)")
    parser.add_argument("--method", default="auto", metavar="auto|closed|autograd",
                        help="closed form (Elman RNN only) or autograd; auto picks closed "
                             "form where it exists (default: auto)")
    parser.add_argument("--out", default="jacobian.png", metavar="PNG",
                        help="the plot (default: jacobian.png)")
    parser.add_argument("--rows", type=int, default=40,
                        help="at most this many table rows (default: 40)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import torch

    from rnnlab.diagnostics.gradflow import RecurrentStack, recurrent_module
    from rnnlab.diagnostics.jacobian import (
        CLOSED_FORM_CELLS,
        METHODS,
        analyse_layer,
        format_table,
    )
    from rnnlab.diagnostics.plots import plot_jacobians

    require_positive("--rows", args.rows)
    require_positive("--layer", args.layer)
    if args.method not in METHODS:
        raise RnnlabError(f"unknown --method {args.method!r}; choose one of {', '.join(METHODS)}")
    model, ids, _, description, data = model_and_batch(args, batch_size=1)
    model.to(torch.float64).eval()
    stack = RecurrentStack.from_module(recurrent_module(model))
    if args.method == "closed" and stack.cell not in CLOSED_FORM_CELLS:
        raise RnnlabError(f"--method closed needs an Elman RNN ({', '.join(CLOSED_FORM_CELLS)});"
                          f" the model is {stack.cell}: use --method autograd or auto")
    if args.layer is not None and args.layer > stack.num_layers:
        raise RnnlabError(f"--layer {args.layer} does not exist; the model has "
                          f"{stack.num_layers} layer(s)")
    layers = [args.layer - 1] if args.layer else list(range(stack.num_layers))
    with torch.no_grad():
        inputs = model.embedding(ids)[0]                               # (T, E)
    results = [analyse_layer(stack, inputs, layer, args.method) for layer in layers]
    print(f"model: {description}")
    print(f"data: {data}; one window of {ids.shape[1]} characters")
    print(format_table(results, max(args.rows, 2)))
    plot_jacobians(results, args.out, title=description)
    print(f"plot: {args.out}")
    for item in results:
        print(item.summary())
    return 0
