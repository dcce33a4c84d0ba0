"""See inside a trained RNN: one self-contained HTML page per run and text.

    from rnnlab.viz import read_input, build_payload, render_page, write_page
    page_input = read_input("story.txt", None)                  # or read_input(None, "prime text")
    write_page("page.html", render_page(build_payload("runs/charlm-…", page_input)))

Modules: page.py (run kind, input checks, the HTML from the assets), lm.py (a char LM's states,
gates, predictions and gradient flow over a text), gates.py (gate activations of the built-in
cells), features.py (text features and the interpretable-unit ranking), classifier.py
(pooling weights and per-token contributions), tagger.py (gold vs predicted tags),
encoding.py (8-bit activations, base64 arrays), server.py (`rnnlab serve`), browser.py
(headless Chromium through Playwright, for tests and screenshots). The page itself is
assets/page.html, viz.css and viz.js. See docs/viz.md.
"""

from rnnlab.viz.page import (DEFAULT_MAX_CHARS, KINDS, PageInput, build_payload, read_input,
                             render_page, run_kind, write_page)

__all__ = ["DEFAULT_MAX_CHARS", "KINDS", "PageInput", "build_payload", "read_input",
           "render_page", "run_kind", "write_page"]
