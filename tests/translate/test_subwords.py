"""rnnlab.data.subwords: SentencePiece tokenizers that round-trip the text the model reads."""

import gzip

import pytest

from rnnlab.data.parallel import normalize_whitespace, read_lines
from rnnlab.data.subwords import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, SubwordOptions,
                                  SubwordTokenizer, TranslationVocab)
from rnnlab.errors import RnnlabError

TEXT = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee, während es schneit!",
        "Ein Kind isst ein Eis — draußen.", "Straßenkünstler zeichnen großformatige Bilder.",
        "日本語の文も大丈夫です。", "Ein Mann    mit  Hut."] * 20


@pytest.fixture(scope="module")
def tokenizer() -> SubwordTokenizer:
    return SubwordTokenizer.train([normalize_whitespace(t) for t in TEXT], vocab_size=320)


def test_round_trips_the_training_text(tokenizer):
    for line in TEXT:
        text = normalize_whitespace(line)
        ids = tokenizer.encode(text)
        assert all(i > EOS_ID for i in ids)          # no special ids inside a sentence
        assert tokenizer.decode(ids) == text


def test_unseen_characters_round_trip_through_bytes_not_unk(tokenizer):
    text = "Ein Zebra (ζέβρα) frisst 🍎."
    ids = tokenizer.encode(text)
    assert UNK_ID not in ids
    assert tokenizer.decode(ids) == text


def test_special_ids_are_fixed_and_dropped_when_decoding(tokenizer):
    ids = tokenizer.encode("Ein Mann")
    assert tokenizer.decode([BOS_ID] + ids + [EOS_ID, PAD_ID, PAD_ID]) == "Ein Mann"
    assert tokenizer.pieces(ids)[0].startswith("▁")


def test_vocab_saves_and_loads_the_same_models(tokenizer, tmp_path):
    vocab = TranslationVocab(tokenizer, tokenizer)
    vocab.save(tmp_path / "vocab.json")
    loaded = TranslationVocab.load(tmp_path / "vocab.json")
    assert len(loaded.source) == len(tokenizer) and len(loaded.target) == len(tokenizer)
    for line in TEXT[:6]:
        assert loaded.target.encode(line) == tokenizer.encode(line)


def test_training_is_deterministic():
    lines = [normalize_whitespace(t) for t in TEXT]
    first = SubwordTokenizer.train(lines, vocab_size=320)
    second = SubwordTokenizer.train(lines, vocab_size=320)
    assert first.model_proto == second.model_proto


def test_bad_options_are_errors():
    with pytest.raises(RnnlabError, match="must be an integer >= 300"):
        SubwordOptions(source_size=100)
    with pytest.raises(RnnlabError, match="unknown subword model type 'wordpiece'"):
        SubwordOptions(model_type="wordpiece")
    with pytest.raises(RnnlabError, match="has no text to learn subwords from"):
        SubwordTokenizer.train(["", ""], vocab_size=300)


def test_vocab_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text('{"format_version": 1, "kind": "word_vocab"}', encoding="utf-8")
    with pytest.raises(RnnlabError, match="is not a translation vocabulary"):
        TranslationVocab.load(path)


def test_multi30k_training_text_round_trips(shared_data):
    """Every line of the real training text, both languages, as the model reads it."""
    folder = shared_data / "multi30k"
    if not (folder / "train.de.gz").is_file():
        pytest.skip(f"{folder} has no Multi30k files")
    for side in ("de", "en"):
        lines = [normalize_whitespace(line) for line in read_lines(folder / f"train.{side}.gz")]
        tokenizer = SubwordTokenizer.train(lines, vocab_size=8000)
        ids = tokenizer.encode_lines(lines)
        mismatches = [line for line, piece_ids in zip(lines, ids)
                      if tokenizer.decode(piece_ids) != line]
        assert len(lines) == 29000 and mismatches == []
        # and the reader's whitespace normalisation is the only change to the raw text
        with gzip.open(folder / f"train.{side}.gz", "rt", encoding="utf-8") as handle:
            raw = handle.read().split("\n")[:-1]
        assert [" ".join(line.split()) for line in raw] == lines
