"""Shared by the viz tests: small saved runs, a char LM trained on quoted text, the browser."""

import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and pages the browser tests leave for a person to look at (build/ is ignored).
ARTIFACTS = Path(os.environ.get("RNNLAB_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts" / "viz"))


def quoted_text(count: int, seed: int) -> str:
    """Words of a and b outside quotes, of C and D inside long quoted spans: to predict the
    next letter a model has to know whether it is inside a quotation."""
    rng = random.Random(seed)

    def words(letters):
        return " ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 5)))
                        for _ in range(rng.randint(2, 6)))

    parts = []
    for _ in range(count):
        parts.append(f'"{words("CD")}"' if rng.random() < 0.5 else words("ab"))
        parts.append("\n" if rng.random() < 0.2 else " ")
    return "".join(parts)


@pytest.fixture(scope="session")
def quotes_lm(tmp_path_factory):
    """(run directory, held-out text): a 2×16 GRU char LM trained for 150 steps on quoted text."""
    from rnnlab.tasks.lm import train_char_lm

    root = tmp_path_factory.mktemp("quotes")
    corpus = root / "train.txt"
    corpus.write_text(quoted_text(400, seed=0), encoding="utf-8")
    train_char_lm(data=str(corpus), out=root / "lm",
                  model=dict(cell="gru", num_layers=2, hidden_size=16, embedding_size=8),
                  train=dict(batch_size=8, bptt=32, lr=2e-2, warmup_steps=5, max_steps=150,
                             eval_interval=75, precision="fp32", sample_length=0, seed=0),
                  progress_bar=False, log=lambda message: None)
    held_out = quoted_text(200, seed=1)[:1500]
    return root / "lm", held_out


def saved_char_lm(path: Path, text: str, **config):
    """An untrained char LM with the vocabulary of `text`, saved as a run directory."""
    import torch

    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.lm import CharLM, CharLMConfig

    torch.manual_seed(config.pop("seed", 0))
    vocab = CharVocab.from_text(text)
    options = dict(cell="gru", embedding_size=6, hidden_size=8, num_layers=2) | config
    model = CharLM(CharLMConfig(vocab_size=len(vocab), **options))
    model.vocab = vocab
    model.save_pretrained(path)
    return CharLM.from_pretrained(path)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (the distribution's), or a skip saying why there is none.
    With RNNLAB_REQUIRE_BROWSER=1 (CI) a missing browser fails instead of skipping."""
    from rnnlab.viz.browser import chromium, unavailable

    reason = unavailable()
    if reason:
        if os.environ.get("RNNLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (RNNLAB_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    with chromium() as instance:
        yield instance


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lm_page(quotes_lm, tmp_path_factory):
    """(page path, model, text): the quotes model's page for its held-out text."""
    from rnnlab.cli import main
    from rnnlab.models.lm import CharLM

    run, text = quotes_lm
    folder = tmp_path_factory.mktemp("lm-page")
    (folder / "in.txt").write_text(text, encoding="utf-8")
    assert main(["viz", str(run), "--text", str(folder / "in.txt"), "--out",
                 str(folder / "page.html"), "--gradflow-chars", "200"]) == 0
    model = CharLM.from_pretrained(run)
    return folder / "page.html", model, text


@pytest.fixture
def page(browser):
    """A fresh tab; any script error on it fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors
