"""How big and how responsive is an `rnnlab viz` page for a large input?

The issue's case: 20,000 characters through a 1,024-unit layer. The model is an untrained
CharLM (seed 0): the page's size and speed depend on the shapes, not on what the weights
learned. The text is the start of tinyshakespeare (../shared/data) when present, else a
generated text. Measures, for the page without gates (the default at this size) and with
them (--gates): the time to build the page in Python, the file size, and in headless Chromium
(the distribution's, via Playwright): the time until the page has drawn, the time to switch to
the next unit (median of 20), to switch layer/quantity (decoding another block), to jump to the
end of the text, to search the units for a pattern, and the JS heap.

    flock /tmp/rnnlab-bench.lock timeout 3000 .venv/bin/python benchmarks/bench_viz.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import (SHARED_DATA, command_line, machine_description, markdown_table,  # noqa: E402
                    write_section)


def make_text(chars: int) -> tuple[str, str]:
    path = SHARED_DATA / "tinyshakespeare" / "input.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8")[:chars], f"the first {chars:,} characters of tinyshakespeare"
    import random
    rng = random.Random(0)
    words = ["the", "king", "said", "\"no\"", "and", "went", "home", "to", "bed"]
    text = ""
    while len(text) < chars:
        text += " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) + "\n"
    return text[:chars], f"{chars:,} characters of generated text"


def measure_page(path: Path, characters: int) -> dict:
    from rnnlab.viz.browser import chromium

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("#main > .controls")
        wall_ready = time.perf_counter() - start
        ready = page.evaluate("() => window.rnnviz.ready")
        unit = [page.evaluate("() => { const t = performance.now(); "
                              "document.getElementById('next-unit').click(); "
                              "return performance.now() - t; }") for _ in range(20)]
        switch = None if page.locator("#quantity option").count() < 2 else page.evaluate("""() => {
            const select = document.getElementById('quantity');
            const t = performance.now();
            select.value = String(select.options.length - 1);
            select.dispatchEvent(new Event('change'));
            return performance.now() - t; }""")
        jump = page.evaluate(f"() => {{ const t = performance.now(); "
                             f"window.rnnviz.scrollToChar({characters - 1}); "
                             f"return performance.now() - t; }}")
        search = page.evaluate("""() => {
            document.getElementById('pattern').value = 'e';
            const t = performance.now();
            document.getElementById('search-form').requestSubmit();
            return performance.now() - t; }""")
        start = time.perf_counter()
        page.hover(f"#ch-{characters - 2}")
        page.wait_for_selector("#tooltip li")
        hover = time.perf_counter() - start
        drawn = page.locator(".ch").count()
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : null")
    return {"ready_ms": ready, "wall_ready_s": wall_ready, "unit_ms": statistics.median(unit),
            "unit_max_ms": max(unit), "switch_ms": switch, "jump_ms": jump, "search_ms": search,
            "hover_s": hover, "drawn": drawn, "heap_mb": heap / 1e6 if heap else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = parser.parse_args()

    import torch

    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.lm import CharLM, CharLMConfig
    from rnnlab.viz import build_payload, read_input, render_page, write_page

    text, text_description = make_text(args.chars)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        vocab = CharVocab.from_text(text)
        model = CharLM(CharLMConfig(vocab_size=len(vocab), cell=args.cell,
                                    hidden_size=args.hidden, num_layers=args.layers))
        model.vocab = vocab
        model.save_pretrained(tmp / "run")
        for gates in (None, True):
            start = time.perf_counter()
            payload = build_payload(tmp / "run", read_input(None, text), gates=gates)
            built = time.perf_counter() - start
            start = time.perf_counter()
            out = tmp / f"page-{gates}.html"
            size = write_page(out, render_page(payload))
            rendered = time.perf_counter() - start
            quantities = ", ".join(q["name"] for q in payload["quantities"])
            print(f"{quantities}: built in {built:.1f} s, rendered in {rendered:.1f} s, "
                  f"{size / 1e6:.1f} MB", flush=True)
            m = measure_page(out, len(text))
            print(m, flush=True)
            rows.append([quantities, f"{size / 1e6:.1f}", f"{built:.1f}", f"{m['wall_ready_s']:.1f}",
                         f"{m['unit_ms']:.1f} (max {m['unit_max_ms']:.1f})",
                         "– (one quantity)" if m["switch_ms"] is None else f"{m['switch_ms']:.0f}",
                         f"{m['jump_ms']:.1f}", f"{m['search_ms']:.0f}",
                         f"{m['hover_s'] * 1000:.0f}", m["drawn"],
                         f"{m['heap_mb']:.0f}" if m["heap_mb"] else "n/a"])
    header = ["quantities", "file MB", "build s (Python)", "open s", "next unit ms",
              "layer/quantity switch ms", "jump to end ms", "unit search ms", "hover ms",
              "character spans drawn", "JS heap MB"]
    body = "\n".join([
        "## rnnlab viz: a large page",
        "",
        f"{text_description}; an untrained {args.cell} CharLM, {args.layers} layer(s) × "
        f"{args.hidden} units (size and speed depend on the shapes, not on the weights). "
        "\"open\" is from navigation until the page has drawn (Playwright, headless Chromium); "
        "the other times are measured inside the page (performance.now) around one action, "
        "including the repaint of the visible characters; the quantity switch decodes another "
        "27 MB block. \"build\" (one torch thread) includes the gradient flow on the first 400 "
        "characters and depends on what else runs on the machine.",
        "",
        markdown_table(header, rows),
        "",
        f"Machine: {machine_description()}.",
        f"Command: `{command_line()}`",
    ])
    print(body)
    if not args.no_write:
        write_section("viz", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
