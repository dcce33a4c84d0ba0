"""read_text: UTF-8 files and directories, and the one-line errors for everything else."""

import pytest

from rnnlab.data.textfile import read_text, write_text_atomic
from rnnlab.errors import RnnlabError


def error_of(path) -> str:
    with pytest.raises(RnnlabError) as caught:
        read_text(path)
    message = str(caught.value)
    assert "\n" not in message, "errors must be one line"
    return message


def test_reads_utf8_text_in_any_script(tmp_path):
    text = "To be, or not to be.\n吾輩は猫である。名前はまだ無い。\nΚαλημέρα 🐈\n"
    path = tmp_path / "mixed.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_text(path) == text
    assert read_text(str(path)) == text


def test_strips_bom_and_normalises_crlf(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\nlone\rcarriage\n")
    assert read_text(path) == "line one\nline two\nlone\rcarriage\n"


def test_missing_path_names_it(tmp_path):
    message = error_of(tmp_path / "nope.txt")
    assert "nope.txt" in message and "no such file" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    message = error_of(path)
    assert "empty.txt" in message and "empty" in message


def test_file_with_only_a_bom_counts_as_empty(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf")
    assert "empty" in error_of(path)


def test_binary_file_reports_first_nul_offset(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"PK\x03\x04abc\x00\x00rest")
    message = error_of(path)
    assert "data.bin" in message and "binary" in message and "byte offset 7" in message


def test_nul_offset_counts_the_bom(tmp_path):
    path = tmp_path / "bom-nul.txt"
    path.write_bytes(b"\xef\xbb\xbfab\x00")
    assert "byte offset 5" in error_of(path)


def test_binary_without_nul_is_recognised(tmp_path):
    path = tmp_path / "noise.dat"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 0x41]) * 50)
    message = error_of(path)
    assert "noise.dat" in message and "binary" in message


def test_a_few_control_characters_are_still_text(tmp_path):
    path = tmp_path / "bell.txt"
    text = "ring\x07 the bell " * 3 + "and a lot of ordinary text " * 10
    path.write_text(text, encoding="utf-8")
    assert read_text(path) == text


def test_non_utf8_reports_offset_line_and_bytes(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\nd\xe9j\xe0 vu\n".encode("latin-1"))
    message = error_of(path)
    # "first line\n" is 11 bytes, then "d" -> the 0xE9 is byte 12, on line 2.
    assert "latin1.txt" in message
    assert "byte offset 12" in message and "line 2" in message and "e9" in message


def test_truncated_multibyte_sequence_at_end(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes("猫".encode("utf-8")[:2])
    assert "byte offset 0" in error_of(path)


def test_directory_reads_sorted_files_recursively_and_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "b" / "z.txt").write_text("bz", encoding="utf-8")
    (tmp_path / "b" / "a.txt").write_text("ba", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / "c.txt").write_text("c", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("HIDDEN", encoding="utf-8")
    (tmp_path / ".git" / "config").write_text("HIDDEN", encoding="utf-8")
    assert read_text(tmp_path) == "a\nba\nbz\nc"


def test_directory_errors_name_the_bad_file(tmp_path):
    (tmp_path / "good.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    message = error_of(tmp_path)
    assert "bad.txt" in message and "byte offset 0" in message and "ff" in message


def test_empty_directory(tmp_path):
    (tmp_path / ".only-hidden").write_text("x", encoding="utf-8")
    message = error_of(tmp_path)
    assert str(tmp_path) in message and "no" in message and "files" in message


def test_write_text_atomic_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    write_text_atomic(path, "first")
    write_text_atomic(path, "second 猫")
    assert path.read_text(encoding="utf-8") == "second 猫"
    assert [p.name for p in path.parent.iterdir()] == ["out.txt"]


def test_reads_tinyshakespeare(tinyshakespeare):
    text = read_text(tinyshakespeare)
    assert len(text) == 1_115_394  # SOURCE.md: 1,115,394 ASCII characters
    assert text.startswith("First Citizen:\nBefore we proceed")
