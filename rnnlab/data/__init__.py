"""The data layer of the character-level language model.

- `textfile.read_text`: a UTF-8 file or a directory of them, with one-line errors.
- `vocab.CharVocab`: characters <-> int64 ids, saved as versioned JSON.
- `streams.StreamBatcher`, `streams.eval_windows`, `streams.split_train_val`: contiguous-stream
  batching for truncated BPTT, batch-first (B, T).
- `corpus.load_corpus`: `--data FILE|DIR`, `--dataset NAME` or the built-in Shakespeare corpus.

The names below are importable from `rnnlab.data` directly. They are loaded on first use, so
reading text or a vocabulary does not import torch (only `streams` needs it).
"""

import importlib

_EXPORTS = {
    "read_text": "textfile",
    "CharVocab": "vocab",
    "StreamBatcher": "streams",
    "Window": "streams",
    "EvalWindow": "streams",
    "eval_windows": "streams",
    "split_train_val": "streams",
    "DATASETS": "corpus",
    "default_cache_dir": "corpus",
    "default_corpus_text": "corpus",
    "fetch_dataset": "corpus",
    "load_corpus": "corpus",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
