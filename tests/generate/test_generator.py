"""The conditional generator: conditioning, sampling (seed, greedy, end symbol, novel), padding
invariance, vectors, saving and loading, exact resume.

Toy data with a known answer: category "Abc" names use only the letters a, b, c; category "Xyz"
names only x, y, z. A generator that uses its input must put almost all of its first-letter
probability on its category's letters."""

import random

import pytest
import torch

from rnnlab.data.names import EOS, EOS_ID, build_name_vocab
from rnnlab.decoding import SamplingOptions
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import GENERATOR_CONDITIONINGS, GeneratorConfig
from rnnlab.models.generator import Generator
from rnnlab.tasks.generate import (collate, encode_pairs, evaluate_run, score_names,
                                   symbol_losses, train_generator)
from rnnlab.train.checkpoint import load_weights

ALPHABETS = {"Abc": "abc", "Xyz": "xyz"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def toy_folder(folder, count=150, seed=0):
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for category, letters in ALPHABETS.items():
        names = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 6)))
                 for _ in range(count)}
        (folder / f"{category}.txt").write_text("".join(f"{n}\n" for n in sorted(names)),
                                                encoding="utf-8")
    return folder


TINY_MODEL = dict(hidden_size=32, embedding_size=8, condition_size=8, dropout=0.0)
TINY_TRAIN = dict(batch_size=16, lr=0.02, warmup_steps=5, eval_interval=100, seed=1)


def quiet(message):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = toy_folder(tmp_path_factory.mktemp("toy") / "names")
    run = tmp_path_factory.mktemp("runs") / "default"
    train_generator(data=folder, out=run, model=TINY_MODEL,
                    train_options={**TINY_TRAIN, "max_steps": 200}, progress_bar=False,
                    log=quiet)
    return run


def letter_mass(distribution, letters):
    return sum(p for token, p in distribution.items() if token in letters)


def test_the_category_changes_the_output_distribution(trained):
    model = Generator.from_pretrained(trained)
    abc, xyz = model.next_distribution("Abc"), model.next_distribution("Xyz")
    assert letter_mass(abc, "abc") > 0.9 and letter_mass(xyz, "xyz") > 0.9
    assert sum(abc.values()) == pytest.approx(1.0, abs=1e-5)
    options = SamplingOptions(temperature=1.0)
    first = model.sample("Abc", n=20, options=options, seed=4)
    second = model.sample("Xyz", n=20, options=options, seed=4)      # same seed
    assert first != second
    letters_first = set("".join(first))
    assert len(letters_first & set("abc")) >= 2 and len(letters_first & set("xyz")) <= 1


def test_an_unconditional_model_ignores_the_category(tmp_path):
    vocab = build_name_vocab(["abc", "xyz"])
    torch.manual_seed(0)
    model = Generator(GeneratorConfig(vocab_size=len(vocab), categories=["Abc", "Xyz"],
                                      conditioning="none", **TINY_MODEL))
    model.vocab = vocab
    assert model.next_distribution("Abc") == model.next_distribution("Xyz")
    assert model.sample("Abc", n=5, seed=1) == model.sample("Xyz", n=5, seed=1)


@pytest.mark.parametrize("conditioning", ["init", "input", "both"])
def test_every_conditioning_mode_changes_the_distribution(conditioning):
    vocab = build_name_vocab(["abc", "xyz"])
    torch.manual_seed(0)
    model = Generator(GeneratorConfig(vocab_size=len(vocab), categories=["Abc", "Xyz"],
                                      conditioning=conditioning, **TINY_MODEL))
    model.vocab = vocab
    abc, xyz = model.next_distribution("Abc"), model.next_distribution("Xyz")
    assert max(abs(abc[t] - xyz[t]) for t in abc) > 1e-4


def test_sampling_with_a_seed_is_reproducible(trained):
    model = Generator.from_pretrained(trained)
    options = SamplingOptions(temperature=1.0, top_p=0.95)
    assert model.sample("Abc", n=10, options=options, seed=7) == \
        model.sample("Abc", n=10, options=options, seed=7)
    assert model.sample("Abc", n=10, options=options, seed=7) != \
        model.sample("Abc", n=10, options=options, seed=8)


def test_greedy_is_deterministic_and_follows_the_argmax(trained):
    model = Generator.from_pretrained(trained)
    greedy = SamplingOptions(greedy=True)
    names = model.sample("Xyz", n=3, options=greedy)                  # no seed needed
    assert names == model.sample("Xyz", n=3, options=greedy, seed=123)
    assert len(set(names)) == 1
    # The same path, built one argmax at a time from next_distribution.
    prefix = ""
    while len(prefix) < 30:
        distribution = model.next_distribution("Xyz", prefix)
        best = max(distribution, key=distribution.get)
        if best == EOS:
            break
        prefix += best
    assert names[0] == prefix


def make_model(conditioning="both", cell="gru", layers=1, seed=0):
    vocab = build_name_vocab(["abcxyz"])
    torch.manual_seed(seed)
    model = Generator(GeneratorConfig(vocab_size=len(vocab), categories=["Abc", "Xyz"],
                                      conditioning=conditioning, cell=cell, num_layers=layers,
                                      **TINY_MODEL))
    model.vocab = vocab
    return model.eval()


def test_the_end_symbol_stops_generation_and_max_length_cuts():
    model = make_model()
    vocab = model.vocab
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(0.0)
        model.head.bias[vocab.tokens.index("x")] = 50.0                  # never ends
    assert model.sample("Abc", n=2, max_length=7, seed=0) == ["xxxxxxx"] * 2
    with torch.no_grad():
        model.head.bias[EOS_ID] = 100.0                                   # ends at once
    assert model.sample("Abc", n=2, seed=0) == ["", ""]


def test_rows_end_independently_in_a_batch(trained):
    model = Generator.from_pretrained(trained)
    names = model.sample("Abc", n=30, options=SamplingOptions(temperature=1.0), seed=2)
    assert len({len(name) for name in names}) > 1          # rows stopped at different steps
    assert all(EOS not in name and len(name) <= 30 for name in names)


@pytest.mark.parametrize("conditioning, cell, layers", [
    ("both", "gru", 1), ("init", "lstm", 2), ("input", "rnn_tanh", 1), ("none", "gru", 2)])
def test_a_name_alone_equals_the_same_name_in_a_padded_batch(conditioning, cell, layers):
    model = make_model(conditioning, cell, layers)
    pairs = [("Abc", "abcab"), ("Xyz", "x"), ("Abc", "cc"), ("Xyz", "zyxzyxzy")]
    data = encode_pairs(pairs, model.vocab, model.config.categories)
    with torch.no_grad():
        together = symbol_losses(model, collate(data, list(range(len(pairs)))))   # (B, T)
        for row in range(len(pairs)):
            alone = symbol_losses(model, collate(data, [row]))[0]                # (T_row,)
            steps = len(pairs[row][1]) + 1
            assert torch.allclose(together[row, :steps], alone, atol=1e-6, rtol=0)
            assert torch.all(together[row, steps:] == 0)


def test_held_out_score_counts_every_character_and_the_end_symbol():
    model = make_model()
    pairs = [("Abc", "ab"), ("Xyz", "zzz")]
    data = encode_pairs(pairs, model.vocab, model.config.categories)
    scores = score_names(model, data)
    # By hand: -log P of each target given <s> and the prefix, from next_distribution.
    total, count = 0.0, 0
    for category, name in pairs:
        for i, target in enumerate([*name, EOS]):
            total -= torch.log(torch.tensor(model.next_distribution(category, name[:i])[target]))
            count += 1
    assert scores.overall.num_chars == count == 7
    assert scores.overall.nats_per_char == pytest.approx(float(total) / count, rel=1e-5)
    assert scores.per_category["Xyz"].num_chars == 4


def test_novel_samples_are_distinct_and_unseen(trained):
    model = Generator.from_pretrained(trained)
    assert model.training_names                      # read from RUN/splits/train.tsv
    names = model.sample("Abc", n=15, options=SamplingOptions(temperature=1.0), seed=0,
                         novel=True)
    assert len(set(names)) == 15 and not set(names) & model.training_names
    assert all(names)
    greedy = SamplingOptions(greedy=True)
    with pytest.raises(RnnlabError, match=r"only 1 of 3 distinct new samples .* in 50 draws"):
        model.sample("Abc", n=3, options=greedy, novel=True, max_draws=50,
                     exclude=["definitely-not-greedy"])


def test_bad_requests_are_one_line_errors(trained):
    model = Generator.from_pretrained(trained)
    with pytest.raises(RnnlabError, match="unknown category 'Nope'; known categories: Abc, Xyz"):
        model.sample("Nope")
    with pytest.raises(RnnlabError, match="count must be a positive integer, got 0"):
        model.sample("Abc", n=0)
    with pytest.raises(RnnlabError, match="trained on categories, not on vectors"):
        model.sample(vector=[1.0, 2.0])
    with pytest.raises(RnnlabError, match="give a category"):
        model.sample()
    with pytest.raises(RnnlabError, match="'Q' that the model never saw"):
        model.next_distribution("Abc", "aQ")


def test_saved_and_loaded_models_agree(trained, tmp_path):
    model = Generator.from_pretrained(trained, weights="last")
    model.save_pretrained(tmp_path / "copy")
    again = Generator.from_pretrained(tmp_path / "copy")
    assert again.next_distribution("Xyz", "zy") == model.next_distribution("Xyz", "zy")
    assert again.training_names is None                  # no splits in a bare copy


def test_vectors_as_the_single_input(tmp_path):
    folder = toy_folder(tmp_path / "names")
    vectors = tmp_path / "vectors.tsv"
    vectors.write_text("Abc\t1 0 0.5\nXyz\t0 1 -0.5\n", encoding="utf-8")
    run = tmp_path / "run"
    train_generator(data=folder, vectors=vectors, out=run, model=TINY_MODEL,
                    train_options={**TINY_TRAIN, "max_steps": 150}, progress_bar=False,
                    log=quiet)
    model = Generator.from_pretrained(run)
    assert model.config.vector_size == 3
    assert torch.equal(model.category_vectors, torch.tensor([[1, 0, 0.5], [0, 1, -0.5]]))
    by_vector = model.next_distribution(vector=[0.0, 1.0, -0.5])
    assert by_vector == model.next_distribution("Xyz")
    assert letter_mass(by_vector, "xyz") > 0.9
    assert model.sample(vector=[1, 0, 0.5], n=4, seed=3) == model.sample("Abc", n=4, seed=3)
    with pytest.raises(RnnlabError, match="the vector has 2 values; this generator expects 3"):
        model.sample(vector=[1.0, 0.0])


def test_eval_on_the_runs_own_splits(trained):
    scores = evaluate_run(trained, split="test")
    # A uniform guess over 3 letters + </s> is ln 4 = 1.386 nats; the model knows the alphabet.
    assert scores.overall.nats_per_char < 1.3
    assert set(scores.per_category) == {"Abc", "Xyz"}


@pytest.mark.parametrize("balance", [0, 100])
def test_resume_gives_the_same_weights_as_one_run(tmp_path, balance):
    folder = toy_folder(tmp_path / "names", count=60)
    options = {**TINY_TRAIN, "eval_interval": 20, "decay_steps": 40}
    train_generator(data=folder, out=tmp_path / "one", model=TINY_MODEL, balance=balance,
                    train_options={**options, "max_steps": 40}, progress_bar=False, log=quiet)
    train_generator(data=folder, out=tmp_path / "two", model=TINY_MODEL, balance=balance,
                    train_options={**options, "max_steps": 20}, progress_bar=False, log=quiet)
    train_generator(resume=tmp_path / "two", overrides={"max_steps": 40}, progress_bar=False,
                    log=quiet)
    one = load_weights(tmp_path / "one" / "model.safetensors")
    two = load_weights(tmp_path / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    assert all(torch.equal(one[name], two[name]) for name in one)


def test_config_rejects_bad_values():
    with pytest.raises(RnnlabError, match="unknown conditioning 'sideways'"):
        GeneratorConfig(vocab_size=10, categories=["a"], conditioning="sideways")
    with pytest.raises(RnnlabError, match="categories must be distinct"):
        GeneratorConfig(vocab_size=10, categories=["a", "a"])
    assert set(GENERATOR_CONDITIONINGS) == {"both", "init", "input", "none"}
