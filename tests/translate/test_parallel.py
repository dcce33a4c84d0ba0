"""rnnlab.data.parallel: reading aligned files, and Multi30k by name with its checksum."""

import gzip
import hashlib

import pytest

from rnnlab.data.parallel import (dataset_paths, fetch_multi30k, multi30k_file, read_lines,
                                  read_parallel)
from rnnlab.errors import RnnlabError


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_plain_and_gzipped_files_read_the_same(tmp_path):
    text = "Ein Hund.\r\nZwei  Katzen  \nDrei Vögel."          # CRLF, no final line break
    plain = write(tmp_path / "a.de", b"\xef\xbb\xbf" + text.encode("utf-8"))
    zipped = write(tmp_path / "a.de.gz", gzip.compress(text.encode("utf-8")))
    assert read_lines(plain) == read_lines(zipped) == ["Ein Hund.", "Zwei  Katzen  ",
                                                       "Drei Vögel."]


def test_pairs_are_whitespace_normalised_but_references_stay_raw(tmp_path):
    source = write(tmp_path / "s", "Zwei  Katzen \n".encode())
    target = write(tmp_path / "t", " Two  cats.\n".encode())
    text = read_parallel(source, target)
    assert text.source == ["Zwei Katzen"] and text.target == ["Two cats."]
    assert text.references == [" Two  cats."] and text.line_numbers == [1]


def test_different_line_counts_name_both_counts(tmp_path):
    source = write(tmp_path / "s", b"a\nb\nc\n")
    target = write(tmp_path / "t", b"a\nb\n")
    with pytest.raises(RnnlabError, match=r"s has 3 lines but .*t has 2"):
        read_parallel(source, target)


@pytest.mark.parametrize("data", [b"", b"\n\n", gzip.compress(b"")])
def test_an_empty_file_is_refused(tmp_path, data):
    empty = write(tmp_path / "empty", data)
    with pytest.raises(RnnlabError, match="file is empty"):
        read_lines(empty)


def test_non_utf8_names_the_file_and_line(tmp_path):
    # line 1 "Grüße" in UTF-8, line 2 "Männer" in Latin-1: its ä is the byte e4, 2nd of the line
    bad = write(tmp_path / "latin1.de", b"Gr\xc3\xbc\xc3\x9fe\nM\xe4nner\n")
    with pytest.raises(RnnlabError, match=r"latin1\.de: line 2, byte 2: not valid UTF-8 \(bytes e4"):
        read_lines(bad)
    zipped = write(tmp_path / "latin1.de.gz", gzip.compress(b"ok\nok\n\xff\n"))
    with pytest.raises(RnnlabError, match=r"latin1\.de\.gz \(after gunzip\): line 3"):
        read_lines(zipped)


def test_an_empty_side_is_an_error_or_skipped_on_request(tmp_path):
    source = write(tmp_path / "s", b"a\n  \nc\nd\n")
    target = write(tmp_path / "t", b"A\nB\nC\n\n")
    with pytest.raises(RnnlabError, match=r"s:2: empty line in the pair at line 2 .*"
                                          r"--skip-empty-pairs"):
        read_parallel(source, target)
    text = read_parallel(source, target, skip_empty=True)
    assert text.source == ["a", "c"] and text.line_numbers == [1, 3] and text.skipped == 2


def test_binary_and_missing_files(tmp_path):
    with pytest.raises(RnnlabError, match="line 2 holds a NUL byte"):
        read_lines(write(tmp_path / "bin", b"abc\n\x00\x01"))
    with pytest.raises(RnnlabError, match="no such file"):
        read_lines(tmp_path / "missing.de")


def test_multi30k_is_fetched_with_its_checksum(shared_data, tmp_path):
    """The download path, with the shared copy standing in for the upstream URL."""
    folder = shared_data / "multi30k"
    if not (folder / "val.de.gz").is_file():
        pytest.skip(f"{folder} has no Multi30k files")
    local = (folder / "val.de.gz").as_uri()
    path = fetch_multi30k("val", "de", cache_dir=tmp_path, url=local)
    assert path == tmp_path / "datasets" / "multi30k" / "val.de.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == multi30k_file("val", "de").sha256
    assert len(read_lines(path)) == 1014
    # a file with other content under the same name is refused, not used
    with pytest.raises(RnnlabError, match="sha256"):
        fetch_multi30k("val", "en", cache_dir=tmp_path, url=local)


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(RnnlabError, match="unknown translation dataset 'wmt14'"):
        dataset_paths("wmt14", "train")
    with pytest.raises(RnnlabError, match="the test split is not distributed here"):
        multi30k_file("test", "de")
