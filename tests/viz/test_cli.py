"""`rnnlab viz` and `rnnlab serve` from the command line: pages, summaries, one-line errors."""

import json
import re
import threading
import urllib.error
import urllib.request

import pytest

from rnnlab.cli import main
from rnnlab.decoding import SamplingOptions
from rnnlab.viz.server import make_server

from tests.viz.conftest import saved_char_lm
from tests.viz.test_classifier_tagger import CONLLU, classifier, tagger

TEXT = 'she said "hello there" and left.\nhe said "bye".\n' * 4


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def lm_run(tmp_path):
    saved_char_lm(tmp_path / "lm", TEXT, cell="lstm")
    return tmp_path / "lm"


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="rnnviz-data">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_viz_writes_one_self_contained_page(tmp_path, capsys, lm_run):
    text = tmp_path / "in.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "page.html"
    code, stdout, stderr = run_cli(capsys, "viz", lm_run, "--text", text, "--out", out)
    assert code == 0, stderr
    assert f"page: {out}" in stdout and "h, c, i, f, g, o" in stdout
    assert "inside quotes: best unit layer" in stdout
    html = out.read_text(encoding="utf-8")
    # nothing loaded from anywhere: no external script, style sheet, image or frame
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html
    data = page_data(html)
    assert data["kind"] == "char_lm" and data["text"] == TEXT
    assert data["quantities"][0]["layers"][0]["codes"]["blob"].startswith("blob")


def test_text_cannot_break_out_of_the_page(tmp_path, capsys):
    hostile = 'x</script><script>alert(1)</script>{{DATA}}'
    saved_char_lm(tmp_path / "lm", hostile)
    out = tmp_path / "page.html"
    code, _, stderr = run_cli(capsys, "viz", tmp_path / "lm", "--prime", hostile, "--out", out)
    assert code == 0, stderr
    html = out.read_text(encoding="utf-8")
    assert html.count("</script>") == html.count("<script")   # only the page's own blocks
    assert page_data(html)["text"] == hostile


def test_viz_pages_for_a_classifier_and_a_tagger(tmp_path, capsys):
    classifier(tmp_path, "attention")
    texts = tmp_path / "texts.txt"
    texts.write_text("a witty film\n\ntedious bore\n", encoding="utf-8")
    code, stdout, stderr = run_cli(capsys, "viz", tmp_path / "clf-attention", "--text", texts,
                                   "--out", tmp_path / "clf.html")
    assert code == 0, stderr
    assert "attention pooling: 2 texts" in stdout
    tagger(tmp_path)
    conllu = tmp_path / "dev.conllu"
    conllu.write_text(CONLLU, encoding="utf-8")
    code, stdout, stderr = run_cli(capsys, "viz", tmp_path / "tagger", "--text", conllu,
                                   "--out", tmp_path / "tag.html")
    assert code == 0, stderr
    assert re.search(r"2 sentences; \d of 5 gold tags predicted", stdout)


def one_error_line(capsys, *argv) -> str:
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnlab viz: error: "), stderr
    return lines[0]


def test_a_run_of_another_kind_is_one_error_line(tmp_path, capsys):
    run = tmp_path / "other"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format_version": 1, "kind": "seq2seq"}))
    (run / "model.safetensors").write_bytes(b"")
    line = one_error_line(capsys, "viz", run, "--prime", "abc")
    assert "is a 'seq2seq' run" in line and "char_lm, classifier, tagger" in line
    line = one_error_line(capsys, "viz", tmp_path, "--prime", "abc")
    assert "holds no checkpoint" in line


def test_empty_text_is_one_error_line(tmp_path, capsys, lm_run):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert "is empty" in one_error_line(capsys, "viz", lm_run, "--text", empty)
    assert "--prime is empty" in one_error_line(capsys, "viz", lm_run, "--prime", "")


def test_characters_outside_the_vocabulary_are_listed(tmp_path, capsys, lm_run):
    line = one_error_line(capsys, "viz", lm_run, "--prime", "hello ZZ world ☃", "--out",
                          tmp_path / "p.html")
    assert "'Z' x2" in line and "'☃' x1" in line and "'w' x1" in line
    code, _, _ = run_cli(capsys, "viz", lm_run, "--prime", "hello ZZ", "--unknown", "skip",
                         "--out", tmp_path / "p.html")
    assert code == 0


def test_a_text_over_the_limit_is_one_error_line(tmp_path, capsys, lm_run):
    line = one_error_line(capsys, "viz", lm_run, "--prime", "he said " * 3, "--max-chars", "10")
    assert "has 24 characters; a page shows at most 10 (--max-chars" in line
    long_file = tmp_path / "long.txt"
    long_file.write_text("a" * 20_001, encoding="utf-8")
    assert "20,001 characters" in one_error_line(capsys, "viz", lm_run, "--text", long_file)


def test_text_and_prime_exactly_one(tmp_path, capsys, lm_run):
    assert "exactly one" in one_error_line(capsys, "viz", lm_run)
    assert "exactly one" in one_error_line(capsys, "viz", lm_run, "--prime", "a",
                                           "--text", tmp_path)


def test_serve_refuses_a_classifier_run(tmp_path, capsys):
    classifier(tmp_path, "mean")
    code, _, stderr = run_cli(capsys, "serve", tmp_path / "clf-mean", "--prime", "a film")
    assert code == 2 and "samples from a char LM" in stderr


@pytest.fixture
def server(lm_run):
    from rnnlab.models.lm import CharLM

    model = CharLM.from_pretrained(lm_run)
    instance = make_server(model, "<html>the page</html>", "127.0.0.1", 0)
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{instance.server_address[1]}", lm_run
    instance.shutdown()
    instance.server_close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")


def test_serve_streams_the_same_sample_as_generate(server):
    from rnnlab.models.lm import CharLM

    base, run = server
    assert get(base + "/") == (200, "<html>the page</html>")
    status, body = get(base + "/sample?prime=she%20said&length=40&temperature=0.7&top_k=5&seed=3")
    expected = CharLM.from_pretrained(run).generate(
        "she said", 40, SamplingOptions(temperature=0.7, top_k=5), seed=3)
    assert status == 200 and body == expected and len(body) == 40


def test_serve_answers_bad_requests_with_one_line(server):
    base, _ = server
    status, body = get(base + "/sample?prime=%E2%98%83&length=5")
    assert status == 400 and "'☃' x1" in body and body.count("\n") == 1
    assert get(base + "/sample?length=lots") == (400, "length must be an integer, got 'lots'\n")
    assert get(base + "/sample?length=999999")[0] == 400
    assert get(base + "/sample?temperature=-1")[0] == 400
    assert get(base + "/sample?colour=red")[0] == 400
    assert get(base + "/elsewhere")[0] == 404
