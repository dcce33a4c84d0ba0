"""CharVocab: building, encoding, decoding, and saving vocabularies."""

import json
import os

import numpy as np
import pytest

from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError

JAPANESE = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\n"


def test_from_text_sorts_unique_characters():
    vocab = CharVocab.from_text("banana!\n")
    assert vocab.chars == ["\n", "!", "a", "b", "n"]
    assert len(vocab) == 5
    assert "a" in vocab and "z" not in vocab


def test_encode_matches_a_plain_dictionary_lookup():
    text = "hello, world\n" + JAPANESE + "🐈 emoji and ZWJ\u200d"
    vocab = CharVocab.from_text(text)
    lookup = {char: index for index, char in enumerate(vocab.chars)}
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.tolist() == [lookup[char] for char in text]
    assert vocab.decode(ids) == text


def test_vocabulary_in_a_custom_order_still_encodes_correctly():
    vocab = CharVocab(["z", "猫", "a", "\n"])
    assert vocab.encode("a猫z\n").tolist() == [2, 1, 0, 3]
    assert vocab.decode([3, 2, 1, 0]) == "\na猫z"


def test_decode_accepts_lists_arrays_and_tensors():
    torch = pytest.importorskip("torch")
    vocab = CharVocab.from_text("abc")
    assert vocab.decode([0, 1, 2]) == "abc"
    assert vocab.decode(np.array([2, 1], dtype=np.int32)) == "cb"
    assert vocab.decode(torch.tensor([1, 1, 0])) == "bba"
    assert vocab.decode([]) == ""


def test_decode_rejects_out_of_range_ids():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(RnnlabError, match=r"token id 3 is out of range.*0\.\.2"):
        vocab.decode([0, 3])
    with pytest.raises(RnnlabError, match="token id -1"):
        vocab.decode([-1])


def test_unknown_characters_are_listed_with_counts():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(RnnlabError) as caught:
        vocab.encode("abxxyz猫x")
    message = str(caught.value)
    assert "\n" not in message
    assert "'x' x3" in message and "'y' x1" in message and "'猫' x1" in message
    assert "--unknown skip" in message
    # Most frequent first.
    assert message.index("'x'") < message.index("'y'")


def test_unknown_character_list_is_capped():
    vocab = CharVocab.from_text("a")
    unknown = "".join(chr(0x4E00 + i) for i in range(30))
    with pytest.raises(RnnlabError, match="and 10 more") as caught:
        vocab.encode(unknown)
    assert "30 characters not in the vocabulary" in str(caught.value)


def test_unknown_skip_drops_them():
    vocab = CharVocab.from_text("abc")
    assert vocab.decode(vocab.encode("a?b!c猫", unknown="skip")) == "abc"


def test_unknown_policy_is_checked():
    with pytest.raises(RnnlabError, match="'replace'"):
        CharVocab.from_text("a").encode("a", unknown="replace")


def test_invalid_vocabularies():
    with pytest.raises(RnnlabError, match="empty"):
        CharVocab.from_text("")
    with pytest.raises(RnnlabError, match="duplicate"):
        CharVocab(["a", "b", "a"])
    with pytest.raises(RnnlabError, match="'ab'"):
        CharVocab(["ab"])


def test_json_round_trip_and_version():
    vocab = CharVocab.from_text(JAPANESE)
    data = vocab.to_json()
    assert data["format_version"] == 1
    assert CharVocab.from_json(json.loads(json.dumps(data))) == vocab
    with pytest.raises(RnnlabError, match=r"format_version 2 is not supported; expected 1"):
        CharVocab.from_json({**data, "format_version": 2})
    with pytest.raises(RnnlabError, match="format_version None"):
        CharVocab.from_json({"chars": ["a"]})


def test_japanese_round_trip_through_save_and_load(tmp_path):
    vocab = CharVocab.from_text(JAPANESE)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = CharVocab.load(path)
    assert loaded == vocab
    assert loaded.decode(loaded.encode(JAPANESE)) == JAPANESE
    assert loaded.encode(JAPANESE).tolist() == vocab.encode(JAPANESE).tolist()
    # Readable as UTF-8 JSON, not \u escapes.
    assert "猫" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    CharVocab.from_text("old").save(path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        CharVocab.from_text("new text").save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(RnnlabError, match="missing.json.*not found"):
        CharVocab.load(missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format_version": 1, "chars": [', encoding="utf-8")
    with pytest.raises(RnnlabError, match=r"broken.json: invalid JSON at line 1"):
        CharVocab.load(broken)
    future = tmp_path / "future.json"
    future.write_text('{"format_version": 7, "chars": ["a"]}', encoding="utf-8")
    with pytest.raises(RnnlabError, match=r"future.json: .*format_version 7.*expected 1"):
        CharVocab.load(future)
