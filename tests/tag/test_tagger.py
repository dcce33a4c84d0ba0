"""The tagger model: exact under padding, learns a synthetic task, handles unseen words, saves."""

import random
import string

import pytest
import torch

from rnnlab.data.conllu_io import format_conllu, parse_conllu, read_conllu
from rnnlab.errors import RnnlabError
from rnnlab.data.tagging import TaggerVocab, make_batch
from rnnlab.models.tagger import Tagger, config_for
from rnnlab.tasks.tag import evaluate_file, evaluate_tagger, score_tags, train_tagger

TINY = dict(word_embedding_size=16, char_embedding_size=8, char_hidden_size=16, hidden_size=32,
            num_layers=1)


@pytest.fixture(autouse=True)
def one_thread():
    # The test machine's 2 cores are shared: one thread avoids OpenMP contention stalls.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# -- a synthetic task: the tag is the shape of the word and the shape of the word before it ----

def shape(word: str) -> str:
    if word.isdigit():
        return "D"
    return "C" if word[0].isupper() else "L"


def random_word(rng: random.Random) -> str:
    kind, length = rng.choice("DCL"), rng.randint(2, 6)
    if kind == "D":
        return "".join(rng.choice(string.digits) for _ in range(length))
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
    return word.capitalize() if kind == "C" else word


def synthetic(rng: random.Random, count: int, lexicon=None):
    """(words, tags) pairs; with no lexicon every word is freshly made (almost all unseen)."""
    pairs = []
    for _ in range(count):
        words = [rng.choice(lexicon) if lexicon else random_word(rng)
                 for _ in range(rng.randint(2, 9))]
        tags = [shape(w) + (shape(words[i - 1]) if i else "S") for i, w in enumerate(words)]
        pairs.append((words, tags))
    return pairs


def to_conllu(pairs) -> str:
    lines = []
    for words, tags in pairs:
        for i, (word, tag) in enumerate(zip(words, tags), start=1):
            lines.append(f"{i}\t{word}\t_\t{tag}\t_\t_\t{0 if i == 1 else 1}\tdep\t_\t_")
        lines.append("")
    return "\n".join(lines) + "\n"


def test_vocab_ids_oov_and_save_load(tmp_path):
    pairs = [(["the", "cat", "The"], ["D", "N", "D"]), (["the", "dog"], ["D", "N"])]
    vocab = TaggerVocab.build(pairs, min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "the"]       # only "the" is seen twice
    assert vocab.word_id("the") == 2 and vocab.word_id("cat") == 1 and vocab.word_id("zebra") == 1
    assert vocab.tags == ["D", "N"]
    # OOV means never seen in training, whatever min_count dropped from the embedding table.
    assert not vocab.is_oov("cat") and vocab.is_oov("zebra") and vocab.is_oov("Cat")
    lower = TaggerVocab.build(pairs, lowercase=True)
    assert lower.word_id("THE") == lower.word_id("the") == 2
    vocab.save(tmp_path / "vocab.json")
    again = TaggerVocab.load(tmp_path / "vocab.json")
    assert (again.words, again.chars, again.tags, again.word_counts) == \
        (vocab.words, vocab.chars, vocab.tags, vocab.word_counts)
    with pytest.raises(RnnlabError, match="tag 'V' is not in the tag set; known tags: D, N"):
        vocab.tag_ids(["D", "V"])


def test_batch_layout():
    vocab = TaggerVocab.build([(["a", "bb", "a"], ["X", "Y", "X"])])
    batch = make_batch(vocab, [["a", "bb", "a"], ["bb"]], [["X", "Y", "X"], ["Y"]])
    assert batch.lengths.tolist() == [3, 1]
    assert batch.word_ids.tolist() == [[vocab.word_id("a"), vocab.word_id("bb"), vocab.word_id("a")],
                                       [vocab.word_id("bb"), 0, 0]]
    # Two distinct forms, each encoded once; positions point at their row.
    assert batch.char_lengths.tolist() == [1, 2]
    assert batch.word_index.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert batch.tags.tolist() == [[0, 1, 0], [1, -100, -100]]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_sentence_alone_and_in_a_padded_batch_agree(cell):
    rng = random.Random(1)
    pairs = synthetic(rng, 20, [random_word(rng) for _ in range(30)])
    vocab = TaggerVocab.build(pairs)
    torch.manual_seed(0)
    model = Tagger(config_for(vocab, **{**TINY, "num_layers": 2}, cell=cell, dropout=0.3), vocab)
    model = model.double().eval()
    sentences = [["Zq", "12"], pairs[0][0], ["unseen", "Words", "in", "a", "much", "longer", "row", "99"]]
    batch_logits = model(make_batch(vocab, sentences))                 # (3, 8, K)
    for row, sentence in enumerate(sentences):
        alone = model(make_batch(vocab, [sentence]))                   # (1, len, K)
        torch.testing.assert_close(batch_logits[row, :len(sentence)], alone[0], rtol=0, atol=1e-12)
    # And predict() (which batches by length internally) gives the tags of the logits.
    expected = [[vocab.tags[k] for k in batch_logits[row, :len(s)].argmax(-1).tolist()]
                for row, s in enumerate(sentences)]
    assert model.predict(sentences, batch_size=2) == expected
    assert model.predict([[], ["x"]])[0] == []


def test_padding_content_is_never_read():
    vocab = TaggerVocab.build([(["a", "b"], ["X", "Y"])])
    torch.manual_seed(0)
    model = Tagger(config_for(vocab, **TINY), vocab).eval()
    batch = make_batch(vocab, [["a", "b", "a"], ["b"]])
    before = model(batch)
    batch.word_ids[1, 1:] = 2          # garbage ids where there is only padding
    batch.word_index[1, 1:] = 1
    after = model(batch)
    torch.testing.assert_close(before[0], after[0], rtol=0, atol=0)
    torch.testing.assert_close(before[1, :1], after[1, :1], rtol=0, atol=0)


def test_learns_a_synthetic_task_and_tags_unseen_words(tmp_path):
    rng = random.Random(0)
    lexicon = sorted({random_word(rng) for _ in range(600)})
    train = synthetic(rng, 400, lexicon)
    dev = synthetic(rng, 50, lexicon)
    (tmp_path / "train.conllu").write_text(to_conllu(train), encoding="utf-8")
    (tmp_path / "dev.conllu").write_text(to_conllu(dev), encoding="utf-8")
    result = train_tagger(train=str(tmp_path / "train.conllu"), dev=str(tmp_path / "dev.conllu"),
                          out=tmp_path / "run", model={**TINY, "dropout": 0.0, "word_dropout": 0.5},
                          training=dict(batch_size=32, lr=0.02, warmup_steps=10, max_steps=120,
                                        eval_interval=60, weight_decay=0.0),
                          progress_bar=False, log=lambda message: None)
    assert result.stopped_by == "max_steps" and result.step == 120
    model = Tagger.from_pretrained(tmp_path / "run")
    # Fresh sentences made of freshly made words: nearly every token is unseen in training,
    # so only the character path (shape) and the context (previous word) can get them right.
    test = synthetic(random.Random(7), 200)
    score = evaluate_tagger(model, [w for w, _ in test], [t for _, t in test])
    assert score.oov_total > 0.95 * score.total
    assert score.accuracy >= 0.95, score.summary()
    # A chance-level tagger would be far from that: 12 tags.
    assert len(model.vocab.tags) == 12
    # The dev accuracy the trainer saw is reproduced by the saved best weights.
    dev_score = evaluate_file(tmp_path / "run", tmp_path / "dev.conllu")[0]
    assert dev_score.accuracy == pytest.approx(result.best_metric, abs=1e-12)


def test_score_counts_oov_tokens():
    vocab = TaggerVocab.build([(["a", "b"], ["X", "Y"])])
    score = score_tags(vocab, [["a", "c", "d"]], [["X", "Y", "Y"]], [["X", "Y", "X"]])
    assert (score.correct, score.total, score.oov_correct, score.oov_total) == (2, 3, 1, 2)
    assert score.accuracy == pytest.approx(2 / 3) and score.oov_accuracy == pytest.approx(0.5)


def test_unknown_dev_tag_is_an_error_listing_known_tags(tmp_path):
    train = [(["a", "b"], ["X", "Y"])]
    dev = [(["a", "b"], ["X", "Z"])]
    (tmp_path / "train.conllu").write_text(to_conllu(train), encoding="utf-8")
    (tmp_path / "dev.conllu").write_text(to_conllu(dev), encoding="utf-8")
    with pytest.raises(RnnlabError) as info:
        train_tagger(train=str(tmp_path / "train.conllu"), dev=str(tmp_path / "dev.conllu"),
                     out=tmp_path / "run", progress_bar=False, log=lambda m: None)
    assert "dev.conllu:2: UPOS tag 'Z'" in str(info.value)
    assert "known tags: X, Y" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_resume_continues_exactly(tmp_path):
    rng = random.Random(3)
    pairs = synthetic(rng, 60, [random_word(rng) for _ in range(40)])
    (tmp_path / "t.conllu").write_text(to_conllu(pairs[:50]), encoding="utf-8")
    (tmp_path / "d.conllu").write_text(to_conllu(pairs[50:]), encoding="utf-8")
    common = dict(train=str(tmp_path / "t.conllu"), dev=str(tmp_path / "d.conllu"),
                  model={**TINY, "dropout": 0.2, "word_dropout": 0.2}, progress_bar=False,
                  log=lambda m: None)
    options = dict(batch_size=8, lr=0.01, warmup_steps=2, max_steps=8, eval_interval=4)
    train_tagger(out=tmp_path / "straight", training=options, **common)
    train_tagger(out=tmp_path / "halves", training={**options, "max_steps": 4, "decay_steps": 8},
                 **common)
    train_tagger(resume=tmp_path / "halves", overrides={"max_steps": 8}, progress_bar=False,
                 log=lambda m: None)
    from rnnlab.train.checkpoint import load_weights
    straight = load_weights(tmp_path / "straight" / "model.safetensors")
    halves = load_weights(tmp_path / "halves" / "model.safetensors")
    for name in straight:
        torch.testing.assert_close(straight[name], halves[name], rtol=0, atol=0)


def test_from_pretrained_refuses_a_mismatched_vocab(tmp_path):
    vocab = TaggerVocab.build([(["a", "b"], ["X", "Y"])])
    model = Tagger(config_for(vocab, **TINY), vocab)
    model.save_pretrained(tmp_path / "run")
    loaded = Tagger.from_pretrained(tmp_path / "run")
    assert loaded.predict([["a", "b", "never-seen"]]) == model.eval().predict([["a", "b", "never-seen"]])
    TaggerVocab.build([(["a", "b", "c"], ["X", "Y"])]).save(tmp_path / "run" / "vocab.json")
    with pytest.raises(RnnlabError, match="has 5 words but the model config expects 4"):
        Tagger.from_pretrained(tmp_path / "run")


@pytest.mark.gpu
def test_cuda_predictions_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = random.Random(5)
    pairs = synthetic(rng, 30, [random_word(rng) for _ in range(50)])
    vocab = TaggerVocab.build(pairs)
    torch.manual_seed(0)
    model = Tagger(config_for(vocab, **TINY), vocab).eval()
    sentences = [words for words, _ in pairs] + [["never", "Seen", "123"]]
    cpu_logits = model(make_batch(vocab, sentences))
    gpu_logits = model.cuda()(make_batch(vocab, sentences).to("cuda")).cpu()
    torch.testing.assert_close(gpu_logits, cpu_logits, rtol=1e-4, atol=1e-4)
    assert model.predict(sentences) == model.cpu().predict(sentences)
