"""Classifier, tagger and `rnnlab serve` pages in headless Chromium; the char-LM page in Firefox;
the colour scales' contrast. (See test_browser.py for how colours are checked.)"""

import re
import threading

import numpy as np
import pytest

from rnnlab.decoding import SamplingOptions

from tests.viz.pagecheck import (NEG, POS, SEQ, assert_close_colours, build, colours, diverging,
                                 layer_outputs, open_page, sequential)
from tests.viz.test_classifier_tagger import CONLLU, classifier, tagger

pytestmark = pytest.mark.browser


def test_colour_scales_keep_text_readable():
    def luminance(colour):
        channels = [c / 255 for c in colour]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    from importlib import resources
    script = resources.files("rnnlab.viz").joinpath("assets", "viz.js").read_text(encoding="utf-8")
    declared = re.search(r"var NEG = \[(.*?)\], POS = \[(.*?)\], SEQ = \[(.*?)\];", script)
    assert [tuple(int(x) for x in group.split(",")) for group in declared.groups()] == [NEG, POS, SEQ]
    ink = luminance((17, 17, 17))
    for end in (NEG, POS, SEQ):
        assert (luminance(end) + 0.05) / (ink + 0.05) >= 4.5


def test_classifier_page(page, tmp_path, capsys, artifacts):
    from rnnlab.viz.classifier import explain_text

    model = classifier(tmp_path, "attention")
    texts = ["a gorgeous witty film", "tedious and long , a bore"]
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    build(capsys, "viz", tmp_path / "clf-attention", "--text", tmp_path / "texts.txt",
          "--out", tmp_path / "clf.html")
    open_page(page, tmp_path / "clf.html")
    explained = [explain_text(model, t) for t in texts]
    bound = max(np.abs(e["contributions"]).max() for e in explained)
    for n, e in enumerate(explained):
        c = int(np.argmax(e["probs"]))
        ids = [f"{n}-{t}" for t in range(len(e["tokens"]))]
        assert_close_colours(colours(page, ids, "tok-"),
                             [diverging(v, bound) for v in e["contributions"][c]], tolerance=1)
    page.select_option("#shade", "attention")
    top = max(e["attention"].max() for e in explained)
    assert_close_colours(colours(page, [f"0-{t}" for t in range(4)], "tok-"),
                         [sequential(a, 0, top) for a in explained[0]["attention"]], tolerance=1)
    page.focus("#tok-0-1")
    assert "gorgeous: contribution" in page.locator("#tooltip").inner_text()
    page.screenshot(path=str(artifacts / "classifier.png"))


def test_tagger_page_marks_errors(page, tmp_path, capsys, artifacts):
    model = tagger(tmp_path)
    (tmp_path / "dev.conllu").write_text(CONLLU, encoding="utf-8")
    build(capsys, "viz", tmp_path / "tagger", "--text", tmp_path / "dev.conllu",
          "--out", tmp_path / "tag.html")
    open_page(page, tmp_path / "tag.html")
    predicted = model.predict([["the", "dog", "runs"], ["a", "zebra"]])
    gold = [["DET", "NOUN", "VERB"], ["DET", "NOUN"]]
    for n, (g_tags, p_tags) in enumerate(zip(gold, predicted)):
        for k, (g, p) in enumerate(zip(g_tags, p_tags)):
            word = page.locator(f"#word-{n}-{k}")
            assert ("error" in word.get_attribute("class")) == (g != p)
            assert f"predicted {p}" in word.get_attribute("aria-label")
            assert f"gold {g}" in word.get_attribute("aria-label")
    page.screenshot(path=str(artifacts / "tagger.png"))


def test_serve_streams_a_sample_into_the_page(page, lm_page, quotes_lm):
    from playwright.sync_api import expect

    from rnnlab.viz import build_payload, read_input, render_page
    from rnnlab.viz.server import make_server

    path, model, text = lm_page
    payload = build_payload(quotes_lm[0], read_input(str(path.parent / "in.txt"), None),
                            gradflow_chars=0)
    html = render_page(payload, serve=True)
    server = make_server(model, html, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_selector("#sample-form")
        page.fill("#sample-prime", 'ab "C')
        page.fill("#sample-length", "60")
        page.fill("#sample-temperature", "0.5")
        page.fill("#sample-seed", "4")
        page.click("#sample-form button[type=submit]")
        # (the page's CSP forbids eval, so no wait_for_function: poll with expect)
        expect(page.locator("#sample-status")).to_have_text("done", timeout=60_000)
        expected = model.generate('ab "C', 60, SamplingOptions(temperature=0.5), seed=4)
        assert page.locator("#sample-out").inner_text() == 'ab "C' + expected
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_draws_in_firefox(lm_page, tmp_path):
    """Debian's Firefox ESR cannot be driven by Playwright (it needs Playwright's own patched
    Firefox, a download), so this only asks Firefox for a headless screenshot of the page and
    checks that the script ran: the text's shades (drawn by the script alone) are in it."""
    import shutil
    import subprocess

    from matplotlib.image import imread

    firefox = shutil.which("firefox-esr") or shutil.which("firefox")
    if firefox is None:
        pytest.skip("no Firefox here (apt-get install firefox-esr); the page is tested in Chromium")
    path, model, text = lm_page
    shot = tmp_path / "firefox.png"
    subprocess.run([firefox, "--headless", "--no-remote", "--window-size", "1280,900",
                    "--screenshot", str(shot), path.resolve().as_uri()],
                   env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120,
                   capture_output=True, check=False)
    assert shot.is_file(), "Firefox wrote no screenshot"
    pixels = np.rint(imread(str(shot))[..., :3] * 255).astype(int)       # (rows, columns, 3)
    h2 = layer_outputs(model, model.vocab.encode(text))[1]
    expected = {diverging(v, 1.0) for v in h2[:300, 0]}
    found = {tuple(p) for p in pixels.reshape(-1, 3)}
    assert len(expected & found) > 20, "the shades of unit 0 are not on Firefox's screenshot"


def test_lstm_cell_state_is_shaded_on_each_units_own_range(page, tmp_path, capsys):
    import torch

    from tests.viz.conftest import saved_char_lm

    text = 'she said "hello there" and left.\nhe said "bye".\n' * 6
    model = saved_char_lm(tmp_path / "lstm", text, cell="lstm", hidden_size=6, seed=3)
    build(capsys, "viz", tmp_path / "lstm", "--prime", text, "--out", tmp_path / "lstm.html",
          "--gradflow-chars", "0")
    # layer 1's cell states from torch's nn.LSTMCell, one step at a time
    cell = torch.nn.LSTMCell(model.config.embedding_size, 6)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(model.state_dict()[f"encoder.rnn.{name}_l0"])
        x = model.embedding(torch.as_tensor(model.vocab.encode(text)))
        h, c, cs = torch.zeros(1, 6), torch.zeros(1, 6), []
        for t in range(len(text)):
            h, c = cell(x[t:t + 1], (h, c))
            cs.append(c[0].numpy().copy())
    cs = np.array(cs)                                                       # (T, 6)
    open_page(page, tmp_path / "lstm.html")
    page.select_option("#layer", "0")
    page.select_option("#quantity", label="c — cell state c")
    chars = range(0, 200)
    for unit in (0, 4):
        page.fill("#unit", str(unit))
        page.press("#unit", "Tab")
        bound = np.abs(cs[:, unit]).max()
        assert_close_colours(colours(page, chars), [diverging(cs[i, unit], bound) for i in chars])
        assert "this unit's range" in page.locator("#legend").inner_text()
