"""The char LM's budget rule (rnnlab.tasks.lm_sizing) and its use by train_char_lm."""

import json
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main
from rnnlab.tasks import lm_sizing
from rnnlab.tasks.lm import train_char_lm
from rnnlab.tasks.lm_sizing import LADDER, Budget, choose, gru_weights, passes_for
from rnnlab.train.checkpoint import load_weights

VOCAB = 65
SHAKESPEARE_TRAIN = 1_003_854          # 90% of tinyshakespeare


def quiet(message):
    pass


def time_budget(seconds, chars=SHAKESPEARE_TRAIN, speed=20_000.0):
    return Budget(train_chars=chars, batch_size=64, bptt=32, max_time=seconds,
                  tokens_per_second=speed)


def test_the_choice_is_a_pure_function_of_budget_corpus_and_speed():
    a = choose(time_budget(300.0), VOCAB)
    b = choose(time_budget(300.0), VOCAB)
    assert a == b
    assert choose(time_budget(300.0, speed=20_001.0), VOCAB).passes != a.passes


def test_more_time_never_gives_a_smaller_model_or_less_dropout():
    chosen = [choose(time_budget(seconds), VOCAB) for seconds in (10, 60, 120, 300, 600, 1200, 5000)]
    sizes = [gru_weights(VOCAB, c.model["hidden_size"], c.model["num_layers"]) for c in chosen]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # The ladder's top rung at a large budget, the calibration size at a short one.
    assert (chosen[-1].model["hidden_size"], chosen[-1].model["num_layers"]) == \
        (LADDER[-1].hidden, LADDER[-1].layers)
    assert chosen[0].model["hidden_size"] == lm_sizing.CALIBRATION_MODEL["hidden_size"]
    assert chosen[-1].model["dropout"] > chosen[0].model["dropout"] == 0.0


def test_passes_by_hand():
    rung = LADDER[1]     # 2×256, the calibration size: its own speed is the measured one
    budget = time_budget(100.0, chars=1_000_000, speed=25_000.0)
    assert passes_for(rung, budget, VOCAB) == pytest.approx(100 * 25_000 / 1_000_000)
    # A larger rung runs slower by its weights per character.
    big = LADDER[-1]
    ratio = gru_weights(VOCAB, 256, 2) / gru_weights(VOCAB, big.hidden, big.layers)
    assert passes_for(big, budget, VOCAB) == pytest.approx(2.5 * ratio)
    steps = Budget(train_chars=1_000, batch_size=4, bptt=10, max_steps=50)
    assert passes_for(big, steps, VOCAB) == pytest.approx(50 * 4 * 10 / 1_000)
    both = Budget(train_chars=1_000, batch_size=4, bptt=10, max_steps=50, max_epochs=0.5)
    assert passes_for(big, both, VOCAB) == pytest.approx(0.5)


def test_a_small_corpus_gets_a_small_model_and_a_batch_that_fits():
    tiny = choose(Budget(train_chars=5_000, batch_size=64, bptt=32, max_time=600.0,
                         tokens_per_second=20_000.0), VOCAB)
    assert tiny.model["hidden_size"] == LADDER[0].hidden
    assert tiny.train["batch_size"] * 32 * 4 < 5_000
    assert "too small" in tiny.reason


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 400, encoding="utf-8")
    return path


SMALL_TRAIN = dict(bptt=16, warmup_steps=2, eval_interval=5, precision="fp32", sample_length=0,
                   seed=3)


def test_the_choice_is_recorded_and_explicit_options_win(tmp_path, corpus):
    train_char_lm(data=str(corpus), out=tmp_path / "rule",
                  train={**SMALL_TRAIN, "max_steps": 3}, progress_bar=False, log=quiet)
    saved = json.loads((tmp_path / "rule" / "config.json").read_text())
    sizing = saved["sizing"]
    for key, value in sizing["model"].items():
        assert saved["model"][key] == value, key
    assert saved["train"]["lr"] == sizing["train"]["lr"]
    assert saved["train"]["batch_size"] == sizing["train"]["batch_size"]
    assert sizing["passes"] > 0 and sizing["reason"]

    train_char_lm(data=str(corpus), out=tmp_path / "explicit",
                  model={"hidden_size": 40, "num_layers": 3, "dropout": 0.25},
                  train={**SMALL_TRAIN, "max_steps": 3, "lr": 1e-3}, progress_bar=False,
                  log=quiet)
    saved = json.loads((tmp_path / "explicit" / "config.json").read_text())
    assert (saved["model"]["hidden_size"], saved["model"]["num_layers"],
            saved["model"]["dropout"], saved["train"]["lr"]) == (40, 3, 0.25, 1e-3)
    assert {"dropout", "hidden_size", "lr", "num_layers"} <= set(saved["sizing"]["explicit"])

    train_char_lm(data=str(corpus), out=tmp_path / "off",
                  train={**SMALL_TRAIN, "max_steps": 3, "auto_size": False},
                  progress_bar=False, log=quiet)
    saved = json.loads((tmp_path / "off" / "config.json").read_text())
    assert "sizing" not in saved and saved["model"]["hidden_size"] == 256


def test_a_time_budget_measures_the_speed(tmp_path, corpus, monkeypatch):
    measured = []

    def fake_speed(config, batch_size, bptt, train_ids, **options):
        measured.append((config.hidden_size, config.num_layers, batch_size, bptt))
        return 12_345.0

    monkeypatch.setattr(lm_sizing, "measure_speed", fake_speed)
    train_char_lm(data=str(corpus), out=tmp_path / "run",
                  train={**SMALL_TRAIN, "max_time": 1.0}, progress_bar=False, log=quiet)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert measured and measured[0][:2] == (256, 2)
    assert saved["sizing"]["measured_tokens_per_second"] == 12_345.0
    budget = Budget(train_chars=len(corpus.read_text()) - int(len(corpus.read_text()) * 0.1),
                    batch_size=64, bptt=16, max_time=1.0, tokens_per_second=12_345.0)
    assert saved["sizing"]["passes"] == choose(budget, len(set(corpus.read_text()))).passes


def test_measure_speed_runs_real_steps_and_leaves_the_random_state_alone(corpus):
    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.configs import CharLMConfig

    text = corpus.read_text()
    vocab = CharVocab.from_text(text)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    speed = lm_sizing.measure_speed(CharLMConfig(vocab_size=len(vocab), hidden_size=16,
                                                 embedding_size=8, num_layers=1),
                                    8, 16, vocab.encode(text), steps=2, warmup=1)
    assert speed > 0
    assert torch.equal(torch.get_rng_state(), before)


def test_a_rule_sized_run_resumes_exactly(tmp_path, corpus):
    """The rule's configuration is written to config.json; a resumed run reads it from there
    (no new choice), so 6 steps + 6 resumed equal the same configuration run 12 in one go."""
    train = {**SMALL_TRAIN, "max_steps": 6, "decay_steps": 12}
    half = train_char_lm(data=str(corpus), out=tmp_path / "half", train=train,
                         progress_bar=False, log=quiet)
    resumed = train_char_lm(resume=tmp_path / "half", overrides={"max_steps": 12},
                            progress_bar=False, log=quiet)
    assert (half.step, resumed.step) == (6, 12)
    saved = json.loads((tmp_path / "half" / "config.json").read_text())
    full = train_char_lm(data=str(corpus), out=tmp_path / "full",
                         model={k: v for k, v in saved["model"].items() if k != "vocab_size"},
                         train={**saved["train"], "max_steps": 12, "auto_size": False},
                         progress_bar=False, log=quiet)
    a = load_weights(tmp_path / "full" / "model.safetensors")
    b = load_weights(tmp_path / "half" / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert full.scores == resumed.scores


def test_cli_prints_the_choice_and_refuses_no_auto_size_on_resume(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--max-steps", "2",
                 "--bptt", "16", "--sample-length", "0", "--no-progress"]) == 0
    assert "auto-size:" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--no-auto-size", "--max-steps", "3"]) == 2
    assert "--no-auto-size cannot be given with --resume" in capsys.readouterr().err


def test_a_short_text_gets_a_smaller_model_and_batch_not_a_crash(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be, that is the question.\n" * 20, encoding="utf-8")  # 860
    lines = []
    result = train_char_lm(data=str(short), out=tmp_path / "run",
                           train={**SMALL_TRAIN, "max_time": 1.0}, progress_bar=False,
                           log=lines.append)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert result.step > 0
    assert saved["train"]["batch_size"] < 64
    assert saved["model"]["hidden_size"] == LADDER[0].hidden
    assert any("does not fit" in line and "too small" in line for line in lines)


def test_embedding_dropout_defaults_to_dropout_and_can_be_switched_off():
    from rnnlab.models.configs import CharLMConfig
    from rnnlab.models.lm import CharLM

    old_style = CharLM(CharLMConfig(vocab_size=7, hidden_size=8, embedding_size=4, dropout=0.3))
    assert old_style.embedding_dropout.p == old_style.dropout.p == 0.3
    rule_style = CharLM(CharLMConfig(vocab_size=7, hidden_size=8, embedding_size=4, dropout=0.3,
                                     embedding_dropout=0.0))
    assert rule_style.embedding_dropout.p == 0.0 and rule_style.dropout.p == 0.3
    # Training mode: the embeddings reach the encoder untouched, the outputs are dropped.
    rule_style.train()
    ids = torch.randint(0, 7, (2, 5))
    seen = []
    rule_style.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    rule_style(ids)
    assert torch.equal(seen[0], rule_style.embedding(ids))
