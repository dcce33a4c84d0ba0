"""Shared by the translation tests: a tiny reverse task (letters in, the same letters reversed
out) and a small translator trained on it once per test session."""

import random
from pathlib import Path

import pytest
import torch

LETTERS = "abcdefgh"


def reverse_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """(source, target): 2-7 space-separated letters, and the same letters in reverse order."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        letters = [rng.choice(LETTERS) for _ in range(rng.randint(2, 7))]
        pairs.append((" ".join(letters), " ".join(reversed(letters))))
    return pairs


def write_pairs(folder: Path, name: str, pairs) -> tuple[Path, Path]:
    source, target = folder / f"{name}.src", folder / f"{name}.tgt"
    source.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return source, target


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models run fastest on one thread, and a busy machine then costs no thread stalls."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def reverse_data(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("reverse")
    train = write_pairs(folder, "train", reverse_pairs(3000, seed=0))
    dev = write_pairs(folder, "dev", reverse_pairs(100, seed=1))
    return {"folder": folder, "train": train, "dev": dev}


# Settings that learn the reverse task to 100% exact match (about 30 s on one busy core):
# attention makes it easy, position by position. 400 steps sufficed on an AVX2 CPU but left 1
# of 100 dev sentences wrong on an AVX-512 one (last-bit rounding takes training elsewhere), so
# 600, for a margin on any CPU.
REVERSE_MODEL = dict(embedding_size=64, hidden_size=64, dropout=0.0)
REVERSE_SUBWORDS = dict(source_size=300, target_size=300)
REVERSE_TRAINING = dict(batch_size=32, lr=5e-3, warmup_steps=20, label_smoothing=0.0,
                        eval_interval=600, max_steps=600)


@pytest.fixture(scope="session")
def reverse_run(reverse_data, tmp_path_factory) -> Path:
    """A translator trained on the reverse task (shared by the tests that need a trained run)."""
    from rnnlab.tasks.translate import train_translator

    out = tmp_path_factory.mktemp("runs") / "reverse"
    (source_train, target_train), (source_dev, target_dev) = reverse_data["train"], reverse_data["dev"]
    train_translator(source_train=str(source_train), target_train=str(target_train),
                     source_dev=str(source_dev), target_dev=str(target_dev), out=out,
                     model=REVERSE_MODEL, subword_options=REVERSE_SUBWORDS,
                     train_options=REVERSE_TRAINING, progress_bar=False, log=lambda _: None)
    return out
