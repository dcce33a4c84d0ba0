"""`build_page`: a run and a text -> one self-contained HTML file.

The page is a template (assets/page.html) with the style sheet (assets/viz.css), the script
(assets/viz.js) and the data inlined: no network, no CDN, it opens by double-click. The data is
one small JSON object; its large arrays (activations as 8-bit codes, probabilities) are
base64 blocks in `<script type="application/octet-stream">` elements of their own, which the
script decodes only when they are first shown — so a page for a 20,000-character text and a
1,024-unit layer opens quickly even though it holds every unit.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rnnlab.errors import RnnlabError

KINDS = ("char_lm", "classifier", "tagger")
DEFAULT_MAX_CHARS = 20_000


@dataclass
class PageInput:
    """The text to show and where it came from (for messages)."""
    text: str
    source: str                 # "--text FILE" or "--prime"
    path: str | None = None


def read_input(text_file: str | None, prime: str | None,
               max_chars: int = DEFAULT_MAX_CHARS) -> PageInput:
    """Exactly one of --text FILE / --prime TEXT, non-empty and at most max_chars long."""
    from rnnlab.data.textfile import read_text

    if (text_file is None) == (prime is None):
        raise RnnlabError("give the text to show: either --text FILE or --prime TEXT "
                          "(exactly one of them)")
    if text_file is not None:
        if Path(text_file).is_dir():
            raise RnnlabError(f"--text {text_file} is a directory; expected a UTF-8 text file")
        source, text = f"--text {text_file}", read_text(text_file)
    else:
        source, text = "--prime", prime
    if not text.strip():
        raise RnnlabError(f"{source} is empty: there is no text to show")
    if max_chars < 1:
        raise RnnlabError(f"--max-chars must be a positive integer, got {max_chars}")
    if len(text) > max_chars:
        raise RnnlabError(f"{source} has {len(text):,} characters; a page shows at most "
                          f"{max_chars:,} (--max-chars; the page is tested responsive at "
                          f"{DEFAULT_MAX_CHARS:,})")
    return PageInput(text, source, text_file)


def run_kind(run_dir: str | Path) -> str:
    """The kind of model in RUN (char_lm, classifier or tagger); anything else is an error."""
    from rnnlab.train import checkpoint

    config = checkpoint.read_config(run_dir)
    kind = config["kind"]
    if kind not in KINDS:
        raise RnnlabError(f"{Path(run_dir) / checkpoint.CONFIG_FILE} is a {kind!r} run; "
                          f"rnnlab viz shows {', '.join(KINDS)} runs")
    return kind


def build_payload(run_dir: str | Path, page_input: PageInput, *, weights: str = "best",
                  unknown: str = "error", top_k: int = 5, gates: bool | None = None,
                  gradflow_chars: int = 400, log=None) -> dict:
    """The page's data for the model in `run_dir` reading `page_input`."""
    kind = run_kind(run_dir)
    run = str(run_dir)
    if kind == "char_lm":
        from rnnlab.models.lm import CharLM
        from rnnlab.viz.lm import lm_payload, trace_char_lm

        if top_k < 1:
            raise RnnlabError(f"--top-k must be a positive integer, got {top_k}")
        if gradflow_chars < 0:
            raise RnnlabError(f"--gradflow-chars must be >= 0, got {gradflow_chars}")
        model = CharLM.from_pretrained(run_dir, weights=weights)
        trace = trace_char_lm(model, page_input.text, unknown=unknown, gates=gates,
                              gradflow_chars=gradflow_chars)
        if len(trace.text) != len(page_input.text) and log:
            log(f"skipped {len(page_input.text) - len(trace.text):,} characters that are not in "
                "the model's vocabulary")
        return lm_payload(trace, model, top_k=top_k, run=run)
    if kind == "classifier":
        from rnnlab.models.classifier import RNNClassifier
        from rnnlab.viz.classifier import classifier_payload

        model = RNNClassifier.from_pretrained(run_dir, weights=weights)
        texts = [line for line in page_input.text.splitlines() if line.strip()]
        return classifier_payload(model, texts, run=run)
    from rnnlab.models.tagger import Tagger
    from rnnlab.tasks.tag import run_column
    from rnnlab.viz.tagger import read_sentences, tagger_payload

    model = Tagger.from_pretrained(run_dir, weights=weights)
    column = run_column(run_dir)
    sentences = read_sentences(page_input.text, page_input.path, column)
    return tagger_payload(model, sentences, run=run, column=column)


def _asset(name: str) -> str:
    return resources.files("rnnlab.viz").joinpath("assets", name).read_text(encoding="utf-8")


def _split_blobs(value, blobs: list[str]):
    """A copy of the payload with every packed array ({"b64": ...}) moved into `blobs`."""
    if isinstance(value, dict):
        if "b64" in value:
            blobs.append(value["b64"])
            return {key: item for key, item in value.items() if key != "b64"} | {
                "blob": f"blob{len(blobs) - 1}"}
        return {key: _split_blobs(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [_split_blobs(item, blobs) for item in value]
    return value


def render_page(payload: dict, serve: bool = False) -> str:
    """The HTML text of the page for `payload`; `serve` adds the live sampling box."""
    blobs: list[str] = []
    data = _split_blobs({**payload, "serve": serve}, blobs)
    # "<" escaped as \u003c: no text (a "</script>" in the user's text, say) can end the block.
    data_json = json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                           allow_nan=False).replace("<", "\\u003c")
    blob_html = "\n".join(f'<script type="application/octet-stream" id="blob{index}">{b64}'
                          "</script>" for index, b64 in enumerate(blobs))
    template = _asset("page.html")
    parts = {"{{TITLE}}": html.escape(payload.get("title", "rnnlab viz")),
             "{{STYLE}}": _asset("viz.css"), "{{SCRIPT}}": _asset("viz.js"),
             "{{DATA}}": data_json, "{{BLOBS}}": blob_html}
    # One pass, so a placeholder-like string inside the data is never replaced.
    import re

    return re.sub("|".join(re.escape(key) for key in parts), lambda m: parts[m.group(0)],
                  template)


def write_page(path: str | Path, page: str) -> int:
    """Write atomically; returns the size in bytes."""
    from rnnlab.train.checkpoint import atomic_write_bytes

    data = page.encode("utf-8")
    atomic_write_bytes(path, data)
    return len(data)
