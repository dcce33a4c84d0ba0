"""CoNLL-U reading and writing: round trip, kept rows, malformed input, dataset download."""

from pathlib import Path

import pytest

from rnnlab.data.conllu_io import (
    check_known_tags, fetch_tagging_dataset, format_conllu, parse_conllu, read_conllu,
    tagged_sentences, write_conllu,
)
from rnnlab.errors import RnnlabError

# A sentence with a multiword token (2-3) and an empty node (4.1), columns TAB-separated.
SAMPLE = "\n".join([
    "# sent_id = s1",
    "# text = I can't go.",
    "1\tI\tI\tPRON\tPRP\tCase=Nom\t4\tnsubj\t4:nsubj\t_",
    "2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_",
    "2\tca\tcan\tAUX\tMD\tVerbForm=Fin\t4\taux\t4:aux\t_",
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_",
    "4\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t0:root\tSpaceAfter=No",
    "4.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t4:conj\t_",
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_",
    "",
    "# sent_id = s2",
    "1\tHello\thello\tINTJ\tUH\t_\t0\troot\t0:root\t_",
    "",
]) + "\n"


def write(tmp_path: Path, text: str, name: str = "x.conllu") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_syntactic_words_only(tmp_path):
    bank = read_conllu(write(tmp_path, SAMPLE))
    assert len(bank) == 2 and bank.num_words == 6
    first = bank.sentences[0]
    assert first.forms == ["I", "ca", "n't", "go", "."]          # no "can't", no empty node
    assert first.tags("upos") == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert first.tags("xpos") == ["PRP", "MD", "RB", "VB", "."]
    assert first.sent_id == "s1"
    assert [w.line_number for w in first.words] == [3, 5, 6, 7, 9]
    assert bank.sentences[1].first_line == 11


def test_round_trip_replaces_only_the_tag_column(tmp_path):
    source = write(tmp_path, SAMPLE)
    bank = read_conllu(source)
    # Writing the gold tags back reproduces the file byte for byte.
    assert format_conllu(bank.sentences) == SAMPLE
    predicted = [["X", "Y", "Z", "X", "Y"], ["Z"]]
    out = write_conllu(tmp_path / "out.conllu", bank.sentences, predicted, column="upos")
    again = read_conllu(out)
    assert [s.forms for s in again.sentences] == [s.forms for s in bank.sentences]
    assert [s.tags("upos") for s in again.sentences] == predicted
    assert [s.tags("xpos") for s in again.sentences] == [s.tags("xpos") for s in bank.sentences]
    # Every line other than the words' UPOS column is as it was, comments and MWT/empty rows too.
    old_lines, new_lines = SAMPLE.splitlines(), out.read_text(encoding="utf-8").splitlines()
    assert len(old_lines) == len(new_lines)
    for old, new in zip(old_lines, new_lines):
        old_cols, new_cols = old.split("\t"), new.split("\t")
        if len(old_cols) == 10 and old_cols[0].isdigit():
            assert old_cols[:3] + old_cols[4:] == new_cols[:3] + new_cols[4:]
            assert new_cols[3] in "XYZ"
        else:
            assert old == new


def test_xpos_column_can_be_written(tmp_path):
    bank = read_conllu(write(tmp_path, SAMPLE))
    text = format_conllu(bank.sentences, [["a"] * 5, ["b"]], column="xpos")
    again = parse_conllu(text)
    assert again.sentences[0].tags("xpos") == ["a"] * 5
    assert again.sentences[0].tags("upos") == bank.sentences[0].tags("upos")


def test_real_dev_file_round_trips_exactly(shared_data):
    path = shared_data / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    bank = read_conllu(path)
    assert len(bank) == 2001 and bank.num_words == 25147    # SOURCE.md counts
    assert format_conllu(bank.sentences) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("bad_line, message", [
    ("3\tgo\tgo\tVERB\tVB\t_\t0\troot", "expected 10 TAB-separated columns"),
    ("3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\textra", "found 11"),
    ("x\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "bad ID column 'x'"),
    ("3\tgo\tgo\tVERB\tVB\t_\tnone\troot\t_\t_", "bad HEAD column 'none'"),
    ("5\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "word ID 5 out of sequence; expected 3"),
    ("3  go  go  VERB  VB  _  0  root  _  _", "found 1"),      # spaces instead of TABs
])
def test_malformed_rows_name_file_and_line(tmp_path, bad_line, message):
    text = "# sent_id = a\n1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_\n2\tsee\tsee\tVERB\tVBP\t_\t0\troot\t_\t_\n" \
           + bad_line + "\n\n"
    path = write(tmp_path, text, "bad.conllu")
    with pytest.raises(RnnlabError) as info:
        read_conllu(path)
    assert f"{path}:4:" in str(info.value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_line_numbers_count_earlier_sentences_and_crlf(tmp_path):
    good = "1\tA\ta\tX\tX\t_\t0\troot\t_\t_\r\n\r\n"
    path = write(tmp_path, good * 3 + "1\tB\tb\tX\n")
    with pytest.raises(RnnlabError, match=r"x.conllu:7: expected 10 TAB-separated columns"):
        read_conllu(path)


def test_invalid_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(b"1\tA\ta\tX\tX\t_\t0\troot\t_\t_\n\n1\tcaf\xe9\ta\tX\tX\t_\t0\troot\t_\t_\n")
    with pytest.raises(RnnlabError, match=r"latin1.conllu:3: not valid UTF-8"):
        read_conllu(path)
    with pytest.raises(RnnlabError, match="does not exist"):
        read_conllu(tmp_path / "nope.conllu")


def test_tagged_sentences_require_tags_and_known_tags(tmp_path):
    bank = read_conllu(write(tmp_path, SAMPLE))
    pairs = tagged_sentences(bank, "upos")
    assert pairs[1] == (["Hello"], ["INTJ"])
    untagged = read_conllu(write(tmp_path, SAMPLE.replace("INTJ", "_"), "untagged.conllu"))
    with pytest.raises(RnnlabError, match=r"untagged.conllu:12: word 'Hello' has no UPOS tag"):
        tagged_sentences(untagged, "upos")
    with pytest.raises(RnnlabError) as info:
        check_known_tags(bank, ["PRON", "AUX", "PART", "VERB", "PUNCT"], "upos")
    message = str(info.value)
    assert "x.conllu:12" in message and "'INTJ'" in message
    assert "known tags: AUX, PART, PRON, PUNCT, VERB" in message


def test_fetch_dataset_checks_sha256_without_network(shared_data, tmp_path):
    source = shared_data / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    cache = tmp_path / "cache"
    path = fetch_tagging_dataset("ud_english_ewt", "dev", cache_dir=cache, url=source.as_uri())
    assert path.read_bytes() == source.read_bytes()
    # Cached: no URL is needed any more (an unreachable one is not even tried).
    assert fetch_tagging_dataset("ud_english_ewt", "dev", cache_dir=cache,
                                 url=(tmp_path / "gone").as_uri()) == path
    # A file with other content fails the checksum and is not saved.
    fake = write(tmp_path, SAMPLE, "fake.conllu")
    with pytest.raises(RnnlabError, match="sha256"):
        fetch_tagging_dataset("ud_english_ewt", "train", cache_dir=cache, url=fake.as_uri())
    assert not (cache / "datasets" / "ud_english_ewt" / "en_ewt-ud-train.conllu").exists()
    with pytest.raises(RnnlabError, match="unknown tagging dataset 'ptb'"):
        fetch_tagging_dataset("ptb", "dev", cache_dir=cache)
    with pytest.raises(RnnlabError, match="no split 'test'"):
        fetch_tagging_dataset("ud_english_ewt", "test", cache_dir=cache)


def test_failed_download_suggests_local_files(tmp_path):
    with pytest.raises(RnnlabError) as info:
        fetch_tagging_dataset("ud_english_ewt", "dev", cache_dir=tmp_path,
                              url=(tmp_path / "absent.conllu").as_uri())
    message = str(info.value)
    assert "could not download dataset 'ud_english_ewt'" in message
    assert "pass --train FILE --dev FILE with a local copy" in message and "--data" not in message
