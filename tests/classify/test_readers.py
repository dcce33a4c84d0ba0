"""Classification data layer: readers, label checks, word vocabulary, padding, batch sampler,
named-dataset fetching (file:// URLs only: tests never touch the network)."""

from pathlib import Path

import pytest
import torch

from rnnlab.data.classification import (CLASSIFICATION_DATASETS, Example, check_known_labels,
                                        detect_format, fetch_classification_dataset, label_set,
                                        read_examples)
from rnnlab.data.padding import BucketBatchSampler, pad_sequences
from rnnlab.data.wordvocab import PAD_ID, UNK_ID, WordVocab, tokenize
from rnnlab.errors import RnnlabError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def as_pairs(examples):
    return [(e.label, e.text, e.line) for e in examples]


# -- readers: the good cases ----------------------------------------------------------------------


def test_tsv_without_header_blank_lines_and_empty_text(tmp_path):
    path = write(tmp_path, "d.tsv", "pos\tgreat film\n\n   \nneg\t\nneg\tbad\tand long\n")
    assert as_pairs(read_examples(path)) == [
        ("pos", "great film", 1), ("neg", "", 4), ("neg", "bad\tand long", 5)]


def test_tsv_with_header_in_any_column_order(tmp_path):
    # GLUE's SST-2 layout: sentence first, label second.
    path = write(tmp_path, "glue.tsv", "sentence\tlabel\nit 's fine \t1\nawful\t0\n")
    assert as_pairs(read_examples(path)) == [("1", "it 's fine", 2), ("0", "awful", 3)]


def test_csv_with_quotes_and_header(tmp_path):
    path = write(tmp_path, "d.csv", 'id,text,label\n1,"long, with commas",pos\n2,"two\nlines",neg\n')
    assert as_pairs(read_examples(path)) == [("pos", "long, with commas", 2),
                                             ("neg", "two\nlines", 4)]


def test_csv_without_header(tmp_path):
    path = write(tmp_path, "d.csv", 'pos,"fine, really"\nneg,bad\n')
    assert as_pairs(read_examples(path)) == [("pos", "fine, really", 1), ("neg", "bad", 2)]


def test_jsonl_with_integer_and_string_labels(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "good", "label": 1}\n\n{"text": "", "label": "0"}\n')
    assert as_pairs(read_examples(path)) == [("1", "good", 1), ("0", "", 3)]


def test_sst_format_and_a_label_with_no_text(tmp_path):
    path = write(tmp_path, "stsa.binary.train", "1 a stirring , funny film\n0\n\n0  two spaces\n")
    assert as_pairs(read_examples(path)) == [
        ("1", "a stirring , funny film", 1), ("0", "", 2), ("0", "two spaces", 4)]


def test_plain_text_for_prediction(tmp_path):
    path = write(tmp_path, "texts.txt", "first text\n\nsecond\ttext\n")
    assert detect_format(path, require_labels=False) == "text"   # the first line decides
    assert as_pairs(read_examples(path, "text", require_labels=False)) == [
        (None, "first text", 1), (None, "second\ttext", 3)]
    plain = write(tmp_path, "plain.txt", "just words\n")
    assert as_pairs(read_examples(plain, require_labels=False)) == [(None, "just words", 1)]


def test_crlf_and_bom_are_accepted(tmp_path):
    path = tmp_path / "win.tsv"
    path.write_bytes("\ufeffpos\tok\r\nneg\tno\r\n".encode("utf-8"))
    assert as_pairs(read_examples(path)) == [("pos", "ok", 1), ("neg", "no", 2)]


def test_auto_detection(tmp_path):
    assert detect_format(write(tmp_path, "a.txt", '{"text": "x", "label": 1}\n')) == "jsonl"
    assert detect_format(write(tmp_path, "b.dat", "\n1\tx\n")) == "tsv"
    assert detect_format(write(tmp_path, "c.dev", "1 x\n")) == "sst"
    assert detect_format(write(tmp_path, "d.CSV", "1,x\n")) == "csv"


def test_real_sst2_files(shared_data):
    train = read_examples(shared_data / "sst2" / "stsa.binary.train")
    dev = read_examples(shared_data / "sst2" / "stsa.binary.dev")
    assert len(train) == 6920 and len(dev) == 872
    assert label_set(train) == ["0", "1"]
    assert sum(e.label == "1" for e in train) == 3610
    check_known_labels(dev, label_set(train), "dev")


# -- readers: every malformed line names the file and line ---------------------------------------


@pytest.mark.parametrize("name,text,message", [
    ("d.tsv", "pos\tok\nno tab here\n", r"d\.tsv:2: no tab found"),
    ("d.tsv", "pos\tok\n\t missing label\n", r"d\.tsv:2: empty or missing label"),
    ("h.tsv", "text\tlabel\nok\tpos\nextra\tfield\there\n", r"h\.tsv:3: 3 tab-separated fields"),
    ("h.tsv", "text\tid\nok\t1\n", r"h\.tsv:1: .*no 'label' column"),
    ("d.csv", "pos,ok\npos,a,b\n", r"d\.csv:2: 3 comma-separated fields"),
    ("d.csv", 'pos,"unclosed\n', r"d\.csv:\d+: malformed CSV"),
    ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 2\n', r"d\.jsonl:2: not valid JSON"),
    ("d.jsonl", '{"label": 1}\n', r"d\.jsonl:1: expected a string field \"text\""),
    ("d.jsonl", '{"text": "a"}\n', r"d\.jsonl:1: empty or missing label"),
    ("d.jsonl", '{"text": "a", "label": [1]}\n', r"d\.jsonl:1: label \[1\]"),
    ("d.jsonl", '[1, 2]\n', r"d\.jsonl:1: a JSON list"),
    ("d.tsv", "\n\n  \n", r"d\.tsv: no examples"),
])
def test_malformed_lines_name_file_and_line(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(RnnlabError, match=message):
        read_examples(path)


def test_missing_file_non_utf8_and_bad_format(tmp_path):
    with pytest.raises(RnnlabError, match="no such file"):
        read_examples(tmp_path / "absent.tsv")
    bad = tmp_path / "latin1.tsv"
    bad.write_bytes("pos\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(RnnlabError, match=r"latin1\.tsv: not valid UTF-8 .*line 1"):
        read_examples(bad)
    with pytest.raises(RnnlabError, match="unknown data format 'xml'"):
        read_examples(write(tmp_path, "x.tsv", "a\tb\n"), "xml")
    with pytest.raises(RnnlabError, match="no labels"):
        read_examples(write(tmp_path, "y.txt", "a b\n"), "text")


def test_unknown_dev_label_lists_known_labels():
    dev = [Example("x", "pos", 1), Example("y", "neutral", 7), Example("z", "neutral", 9)]
    with pytest.raises(RnnlabError) as info:
        check_known_labels(dev, ["neg", "pos"], "dev.tsv")
    message = str(info.value)
    assert "dev.tsv:7" in message and "'neutral'" in message and "and 1 more lines" in message
    assert "known labels: 'neg', 'pos'" in message


def test_label_set_orders_integers_numerically():
    examples = [Example("", label, 1) for label in ["10", "2", "1", "2"]]
    assert label_set(examples) == ["1", "2", "10"]
    assert label_set([Example("", "b", 1), Example("", "a", 2)]) == ["a", "b"]


# -- vocabulary ------------------------------------------------------------------------------------


def test_tokenizer_rules():
    assert tokenize("It's a WELL-made film (really)!") == [
        "it's", "a", "well-made", "film", "(", "really", ")", "!"]
    assert tokenize("it 's") == ["it", "'s"]
    assert tokenize("Café  Ünïcode") == ["café", "ünïcode"]
    assert tokenize("KEEP", lowercase=False) == ["KEEP"]


def test_vocab_order_min_freq_unknowns_and_empty_text(tmp_path):
    vocab = WordVocab.build(["b a b c", "a b", "d"], min_freq=2)
    # <pad>, <unk>, then by frequency (b: 3, a: 2); c and d are below min_freq.
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a"]
    assert vocab.pad_id == PAD_ID == 0 and vocab.unk_id == UNK_ID == 1
    assert vocab.encode("A b zzz") == [3, 2, UNK_ID]
    assert vocab.encode("") == [UNK_ID] and vocab.encode("  ") == [UNK_ID]
    assert vocab.unknown_share(["a zzz", "b c"]) == 0.5
    # Ties are alphabetical, and max_size caps the learned tokens.
    assert WordVocab.build(["z y x"], max_size=2).tokens == ["<pad>", "<unk>", "x", "y"]
    vocab.save(tmp_path / "vocab.json")
    loaded = WordVocab.load(tmp_path / "vocab.json")
    assert loaded.tokens == vocab.tokens and loaded.level == "word" and loaded.lowercase


def test_char_level_vocab(tmp_path):
    vocab = WordVocab.build(["Ab a"], level="char")
    assert vocab.tokens == ["<pad>", "<unk>", "a", " ", "b"]
    assert vocab.encode("ba!") == [4, 2, UNK_ID]
    vocab.save(tmp_path / "v.json")
    assert WordVocab.load(tmp_path / "v.json").level == "char"


def test_vocab_file_errors(tmp_path):
    with pytest.raises(RnnlabError, match="does not exist"):
        WordVocab.load(tmp_path / "none.json")
    bad = write(tmp_path, "bad.json", '{"kind": "token_vocab", "format_version": 99, "tokens": []}')
    with pytest.raises(RnnlabError, match="format_version 99"):
        WordVocab.load(bad)
    with pytest.raises(RnnlabError, match="min_freq"):
        WordVocab.build(["a"], min_freq=0)


# -- padding and batching --------------------------------------------------------------------------


def test_pad_sequences():
    ids, lengths = pad_sequences([[5, 6, 7], [8], torch.tensor([9, 10])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    assert ids.dtype == lengths.dtype == torch.int64
    with pytest.raises(RnnlabError, match="sequence 1 is empty"):
        pad_sequences([[1], []])
    with pytest.raises(RnnlabError, match="empty list"):
        pad_sequences([])


def test_bucket_sampler_covers_every_example_once_per_epoch_with_little_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 60, (1000,), generator=generator).tolist()
    sampler = BucketBatchSampler(lengths, 16, seed=3, chunk_batches=10)
    epoch0 = sampler.epoch_batches(0)
    assert sorted(i for batch in epoch0 for i in batch) == list(range(1000))
    assert len(epoch0) == len(sampler) == 63
    assert epoch0 != sampler.epoch_batches(1)              # a new order every epoch
    assert BucketBatchSampler(lengths, 16, seed=3, chunk_batches=10).epoch_batches(0) == epoch0

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    random_batches = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    assert padding(epoch0) < padding(random_batches) / 4


def test_bucket_sampler_state_resumes_exactly():
    lengths = list(range(1, 24))
    first = BucketBatchSampler(lengths, 5, seed=1)
    taken = [first.next_batch() for _ in range(7)]          # crosses into the second epoch
    state = first.state_dict()
    rest = [first.next_batch() for _ in range(6)]
    second = BucketBatchSampler(lengths, 5, seed=1)
    second.load_state_dict(state)
    assert [second.next_batch() for _ in range(6)] == rest
    assert state["epoch"] == 1 and len(taken) == 7
    assert first.epochs_done == pytest.approx(2 + 3 / 5)
    with pytest.raises(RnnlabError, match="same data"):
        BucketBatchSampler(lengths[:-1], 5).load_state_dict(state)


def test_unshuffled_sampler_keeps_order_and_drop_last():
    sampler = BucketBatchSampler([3, 1, 2, 5, 4], 2, shuffle=False)
    assert list(sampler) == [[0, 1], [2, 3], [4]]
    assert BucketBatchSampler([1, 2, 3], 2, shuffle=False, drop_last=True).epoch_batches(0) == [[0, 1]]


# -- named datasets (no network) -------------------------------------------------------------------


def test_sst2_sentences_registry_checksums_match_the_shared_copy(shared_data, tmp_path):
    from rnnlab.data.corpus import file_sha256

    splits = CLASSIFICATION_DATASETS["sst2-sentences"].splits
    for split, entry in splits.items():
        local = shared_data / "sst2" / entry.filename
        assert file_sha256(local) == entry.sha256, split
    # Download through a file:// URL into a temporary cache; the second call uses the cache.
    source = shared_data / "sst2" / "stsa.binary.dev"
    path, fmt = fetch_classification_dataset("sst2-sentences", "dev", cache_dir=tmp_path,
                                             url=source.as_uri())
    # (its cache folder keeps the name it had when the dataset was called sst2)
    assert path == tmp_path / "datasets" / "sst2" / "stsa.binary.dev" and fmt == "sst"
    assert path.read_bytes() == source.read_bytes()
    assert fetch_classification_dataset("sst2-sentences", "dev", cache_dir=tmp_path)[0] == path


def test_dataset_checksum_mismatch_and_unknown_names(tmp_path):
    wrong = write(tmp_path, "wrong.txt", "1 not the real file\n")
    with pytest.raises(RnnlabError, match="sha256"):
        fetch_classification_dataset("sst2-sentences", "train", cache_dir=tmp_path / "c",
                                     url=wrong.as_uri())
    assert not (tmp_path / "c" / "datasets" / "sst2" / "stsa.binary.train").exists()
    cached = tmp_path / "c" / "datasets" / "sst2" / "stsa.binary.dev"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("tampered\n")
    with pytest.raises(RnnlabError, match="delete the file"):
        fetch_classification_dataset("sst2-sentences", "dev", cache_dir=tmp_path / "c")
    with pytest.raises(RnnlabError, match="expected one of: sst2"):
        fetch_classification_dataset("imdb", "train", cache_dir=tmp_path)
    with pytest.raises(RnnlabError, match="no split 'test'"):
        fetch_classification_dataset("sst2-sentences", "test", cache_dir=tmp_path)
