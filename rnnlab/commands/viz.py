"""`rnnlab viz` (one self-contained HTML page) and `rnnlab serve` (the page plus live samples)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.commands.options import Formatter, positive_int

VIZ_DESCRIPTION = """\
Write one self-contained HTML page (no network: styles, script and data inline) that shows
what a trained model does with a text. Open it by double-click, in any browser.

  char LM     the text, each character shaded by a chosen unit of a chosen layer (h, c for an
              LSTM, the gates of LSTM and GRU cells); step through and search the units; units
              ranked by their correlation with text features (inside quotes, position in the
              line, inside a word, after a newline); the surprisal of each character (nats);
              on hover or keyboard focus the top-k next-character probabilities; and
              ‖∂L/∂h_t‖ per layer and step on the first --gradflow-chars characters.
  classifier  one text per line: each token's contribution to the class's logit, and the
              attention weights with attention pooling.
  tagger      a CoNLL-U file (gold vs predicted tags, errors marked) or one sentence per line.
"""

VIZ_EPILOG = """\
output: the page's path and size, what it holds, and for a char LM the best unit of the
ranking for each text feature. Activations are stored as 8 bits per unit and character (error
at most 1/510 of the unit's range); only the lines in view are drawn, so a 20,000-character
text through a 1,024-unit layer stays responsive (docs/viz.md gives the file sizes).
"""

SERVE_DESCRIPTION = """\
Serve the page of a char-LM run on this machine (127.0.0.1 by default) with a box that streams
a sample from a typed prime, with temperature, top-k, top-p and seed. Ctrl-C stops it.
Built on the standard library's http.server: a local, one-user tool needs no framework.
"""


def add_page_options(parser, runs: str) -> None:
    parser.add_argument("run", metavar="RUN", help=f"run directory ({runs})")
    source = parser.add_argument_group("text (exactly one)")
    source.add_argument("--text", metavar="FILE", help="UTF-8 text file to read")
    source.add_argument("--prime", metavar="TEXT", help="the text itself")
    options = parser.add_argument_group("page")
    options.add_argument("--weights", choices=("best", "last"), default="best",
                         help="best (by the dev metric) or last weights (default: best)")
    options.add_argument("--max-chars", type=positive_int, default=20_000,
                         help="refuse longer texts (default: 20000, the size tested for speed)")
    options.add_argument("--unknown", choices=("error", "skip"), default="error",
                         help="char LM: characters outside the vocabulary are an error (listed) "
                              "or skipped (default: error)")
    options.add_argument("--top-k", type=positive_int, default=5,
                         help="char LM: next-character probabilities shown (default: 5)")
    options.add_argument("--gradflow-chars", type=int, default=400, metavar="N",
                         help="char LM: measure ‖∂L/∂h_t‖ on the first N characters; 0: not at "
                              "all (default: 400)")
    options.add_argument("--gates", action=argparse.BooleanOptionalAction, default=None,
                         help="char LM: include gate activations (default: when there are at "
                              "most 16 million of them)")


def register(subparsers) -> None:
    viz = subparsers.add_parser("viz", help="an interactive HTML page: inside a trained RNN",
                                description=VIZ_DESCRIPTION, epilog=VIZ_EPILOG,
                                formatter_class=Formatter)
    add_page_options(viz, "char LM, classifier or tagger")
    viz.add_argument("--out", default="viz.html", metavar="HTML",
                     help="the page to write (default: viz.html)")
    viz.set_defaults(func=run_viz)

    serve = subparsers.add_parser("serve", help="the viz page of a char LM plus live sampling "
                                                "(local server)",
                                  description=SERVE_DESCRIPTION, formatter_class=Formatter)
    add_page_options(serve, "a char LM")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port (default: 8000; 0 picks a free one)")
    serve.set_defaults(func=run_serve)


def _payload(args):
    from rnnlab.viz import build_payload, read_input

    page_input = read_input(args.text, args.prime, args.max_chars)
    return build_payload(args.run, page_input, weights=args.weights, unknown=args.unknown,
                         top_k=args.top_k, gates=args.gates, gradflow_chars=args.gradflow_chars,
                         log=print)


def summary_lines(payload: dict) -> list[str]:
    """What the page holds, in a few lines."""
    if payload["kind"] == "char_lm":
        model = payload["model"]
        names = ", ".join(q["name"] for q in payload["quantities"])
        lines = [f"{payload['title']}: {len(payload['text']):,} characters; {names} for each of "
                 f"{model['layers']} layer(s) × {model['hidden']} units (8 bits each)"]
        lines += [f"note: {note}" for note in payload["notes"]]
        for feature in payload["ranking"]:
            if feature["units"]:
                u = feature["units"][0]
                lines.append(f"{feature['label']}: best unit layer {u['layer'] + 1} "
                             f"{u['quantity']} {u['unit']}, r = {u['r']:+.3f}")
        lines.append(f"gradient flow: {payload['gradflow']['note']}")
        return lines
    if payload["kind"] == "classifier":
        return [f"{payload['title']}: {len(payload['examples'])} texts"]
    scored = payload["scored"]
    accuracy = (f"; {scored - payload['errors']} of {scored} gold tags predicted"
                if scored else "; no gold tags")
    return [f"{payload['title']}: {len(payload['sentences'])} sentences{accuracy}"]


def run_viz(args) -> int:
    from rnnlab.viz import render_page, write_page

    payload = _payload(args)
    size = write_page(args.out, render_page(payload))
    for line in summary_lines(payload):
        print(line)
    print(f"page: {args.out} ({size / 1e6:.2f} MB), self-contained: open it in any browser")
    return 0


def run_serve(args) -> int:
    from rnnlab.errors import RnnlabError
    from rnnlab.models.lm import CharLM
    from rnnlab.viz import render_page, run_kind
    from rnnlab.viz.server import make_server

    kind = run_kind(args.run)
    if kind != "char_lm":
        raise RnnlabError(f"rnnlab serve samples from a char LM; {args.run} is a {kind} run "
                          "(rnnlab viz writes its page)")
    if not 0 <= args.port <= 65535:
        raise RnnlabError(f"--port must be in 0..65535, got {args.port}")
    payload = _payload(args)
    model = CharLM.from_pretrained(args.run, weights=args.weights)
    server = make_server(model, render_page(payload, serve=True), args.host, args.port,
                         log=lambda line: print(line, file=sys.stderr))
    host, port = server.server_address[:2]
    for line in summary_lines(payload):
        print(line)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can run the model",
              file=sys.stderr)
    print(f"serving http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
