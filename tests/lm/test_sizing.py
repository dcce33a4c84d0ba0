"""The char LM's budget rule (rnnlab.tasks.lm_sizing) and its use by train_char_lm."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main
from rnnlab.tasks import lm_sizing
from rnnlab.tasks.lm import train_char_lm
from rnnlab.tasks.lm_sizing import FP32_LADDER as LADDER
from rnnlab.tasks.lm_sizing import Budget, Rung, choose, passes_for, rung_weights
from rnnlab.train.checkpoint import load_weights

VOCAB = 65
SHAKESPEARE_TRAIN = 1_003_854          # 90% of tinyshakespeare


def quiet(message):
    pass


def time_budget(seconds, chars=SHAKESPEARE_TRAIN, speed=20_000.0):
    return Budget(train_chars=chars, batch_size=64, bptt=32, max_time=seconds,
                  tokens_per_second=speed)


def weights(cell="gru", hidden=256, layers=2):
    return rung_weights(VOCAB, Rung(cell, hidden, layers, lr=0.0, min_passes=0.0, dropout=0.0))


def test_the_choice_is_a_pure_function_of_budget_corpus_and_speed():
    a = choose(time_budget(300.0), VOCAB)
    b = choose(time_budget(300.0), VOCAB)
    assert a == b
    assert choose(time_budget(300.0, speed=20_001.0), VOCAB).passes != a.passes


@pytest.mark.parametrize("precision", sorted(lm_sizing.LADDERS))
def test_more_time_never_gives_a_smaller_model_or_less_dropout(precision):
    ladder = lm_sizing.LADDERS[precision]
    chosen = [choose(replace(time_budget(seconds), precision=precision), VOCAB)
              for seconds in (10, 60, 120, 300, 600, 1200, 5000, 20000)]
    sizes = [weights(c.model["cell"], c.model["hidden_size"], c.model["num_layers"])
             for c in chosen]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # The ladder's top rung at a large budget, the calibration size at a short one.
    assert (chosen[-1].model["hidden_size"], chosen[-1].model["num_layers"]) == \
        (ladder[-1].hidden, ladder[-1].layers)
    assert chosen[0].model["hidden_size"] == ladder[lm_sizing.CALIBRATION_RUNG].hidden
    assert chosen[-1].model["dropout"] > chosen[0].model["dropout"] == 0.0
    assert {c.model["cell"] for c in chosen} == {ladder[0].cell}


def test_the_precision_picks_the_ladder():
    fp32 = choose(time_budget(300.0), VOCAB)
    bf16 = choose(replace(time_budget(300.0), precision="bf16"), VOCAB)
    assert fp32.model["cell"] == "gru" and bf16.model["cell"] == "lstm"
    assert "(bf16)" in bf16.reason and "LSTM" in bf16.reason
    with pytest.raises(ValueError, match="no ladder"):
        choose(replace(time_budget(300.0), precision="fp16"), VOCAB)


def test_calibration_skips_a_rung_that_cannot_qualify_and_choose_leaves_it_out():
    calls = []
    speeds = {256: 5_000_000.0, 384: 3_700_000.0, 512: 2_000_000.0, 768: 1_000_000.0}

    def measure(rung):
        calls.append(rung.hidden)
        return speeds[rung.hidden]

    # 1 s, 1 M characters, bf16 ladder: 2×384 reads the text 3.7 times, so 2×512 (min 4.0)
    # cannot qualify even at that speed and is skipped; 2×768 (min 3.5) could, so it is
    # measured — 1 pass, not enough: 2×384 is chosen.
    budget = Budget(train_chars=1_000_000, batch_size=64, bptt=32, max_time=1.0,
                    precision="bf16")
    calibrated = lm_sizing.calibrate(budget, VOCAB, measure)
    assert calls == [256, 384, 768]
    chosen = choose(calibrated, VOCAB)
    assert (chosen.model["cell"], chosen.model["hidden_size"]) == ("lstm", 384)
    # An unmeasured rung stays out even where the estimate scaled from 2×256's speed would
    # let it qualify.
    faster = replace(calibrated, tokens_per_second=20_000_000.0)
    assert passes_for(lm_sizing.BF16_LADDER[3], faster, VOCAB) >= 4.0
    assert choose(faster, VOCAB).model["hidden_size"] == 384


def test_passes_by_hand():
    rung = LADDER[1]     # 2×256, the calibration size: its own speed is the measured one
    budget = time_budget(100.0, chars=1_000_000, speed=25_000.0)
    assert passes_for(rung, budget, VOCAB) == pytest.approx(100 * 25_000 / 1_000_000)
    # A larger rung runs slower by its weights per character.
    big = LADDER[-1]
    ratio = weights(hidden=256) / weights(hidden=big.hidden, layers=big.layers)
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


def test_calibration_measures_up_the_ladder_while_a_size_could_qualify():
    calls = []

    def measure(rung):
        calls.append((rung.layers, rung.hidden))
        return {256: 20_000.0, 384: 15_000.0, 512: 12_000.0}[rung.hidden]

    # 100 s: 2×256 at 20,000 chars/s reads 1 M characters 2 times, enough to measure 2×384
    # (min 1.5 passes); 2×384's own 1.5 passes miss 2×512's 3.0, so 2×512 is not measured.
    short = lm_sizing.calibrate(time_budget(100.0, chars=1_000_000, speed=None), VOCAB, measure)
    assert calls == [(2, 256), (2, 384)]
    assert short.tokens_per_second == 20_000.0
    assert dict(short.measured) == {"GRU 2×256": 20_000.0, "GRU 2×384": 15_000.0}
    calls.clear()
    long = lm_sizing.calibrate(time_budget(400.0, chars=1_000_000, speed=None), VOCAB, measure)
    assert calls == [(2, 256), (2, 384), (2, 512)]
    # The measured speed decides, not the estimate scaled by weights: at 400 s the estimate
    # puts 2×512 at 20,000 × w(2×256)/w(2×512) ≈ 5,300 chars/s, 2.1 passes (not enough);
    # measured at 12,000 it reads the text 4.8 times and is chosen.
    estimate = passes_for(LADDER[-1], time_budget(400.0, chars=1_000_000), VOCAB)
    assert estimate < LADDER[-1].min_passes
    assert passes_for(LADDER[-1], long, VOCAB) == pytest.approx(400 * 12_000 / 1_000_000)
    chosen = choose(long, VOCAB)
    assert (chosen.model["num_layers"], chosen.model["hidden_size"]) == (2, 512)
    assert "GRU 2×512 12,000" in chosen.reason


def test_the_speed_is_measured_at_the_runs_precision(tmp_path, corpus, monkeypatch):
    precisions = []

    def fake_speed(config, batch_size, bptt, train_ids, **options):
        precisions.append(options["precision"])
        return 50_000.0

    monkeypatch.setattr(lm_sizing, "measure_speed", fake_speed)
    train_char_lm(data=str(corpus), out=tmp_path / "run",
                  train={**SMALL_TRAIN, "max_time": 0.5}, progress_bar=False, log=quiet)
    assert precisions and set(precisions) == {"fp32"}


def test_measure_speed_runs_under_bf16_autocast(corpus):
    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.configs import CharLMConfig

    text = corpus.read_text()
    vocab = CharVocab.from_text(text)
    seen = []
    original = torch.autocast

    class Recording(original):
        def __init__(self, device_type, dtype=None, **options):
            seen.append(dtype)
            super().__init__(device_type, dtype=dtype, **options)

    try:
        torch.autocast = Recording
        speed = lm_sizing.measure_speed(CharLMConfig(vocab_size=len(vocab), hidden_size=16,
                                                     embedding_size=8, num_layers=1),
                                        8, 16, vocab.encode(text), steps=2, warmup=1,
                                        precision="bf16")
    finally:
        torch.autocast = original
    assert speed > 0 and seen == [torch.bfloat16] * 3


def test_an_explicit_cell_picks_the_ladder_swept_with_it():
    bf16_gru = replace(time_budget(300.0), precision="bf16", cell="gru")
    assert lm_sizing.ladder_for(bf16_gru) == lm_sizing.FP32_LADDER
    fp32_lstm = replace(time_budget(300.0), cell="lstm")
    assert lm_sizing.ladder_for(fp32_lstm) == lm_sizing.BF16_LADDER
    # A cell no sweep used: the precision's ladder in that cell, weights by its own formula.
    mingru = lm_sizing.ladder_for(replace(time_budget(300.0), cell="mingru"))
    assert [(r.cell, r.hidden, r.min_passes) for r in mingru] == \
        [("mingru", r.hidden, r.min_passes) for r in lm_sizing.FP32_LADDER]
    assert rung_weights(VOCAB, mingru[1]) == (2 * 256 * (64 + 1) + 2 * 256 * (256 + 1)
                                              + VOCAB * 257)
    assert choose(replace(time_budget(300.0), cell="mingru"), VOCAB).model["cell"] == "mingru"


def test_an_explicit_cell_is_measured_and_kept(tmp_path, corpus, monkeypatch):
    cells = []

    def fake_speed(config, batch_size, bptt, train_ids, **options):
        cells.append(config.cell)
        return 50_000.0

    monkeypatch.setattr(lm_sizing, "measure_speed", fake_speed)
    train_char_lm(data=str(corpus), out=tmp_path / "run", model={"cell": "lstm"},
                  train={**SMALL_TRAIN, "max_time": 0.5}, progress_bar=False, log=quiet)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cells and set(cells) == {"lstm"} and saved["model"]["cell"] == "lstm"
