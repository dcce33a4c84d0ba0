"""What every config dataclass shares (model configs, training options): a dict form for
config.json that refuses unknown keys, and the checks their __post_init__ methods run.
Torch-free, like the configs themselves."""

from __future__ import annotations

from dataclasses import asdict, fields

from rnnlab.errors import RnnlabError


def require_positive_ints(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RnnlabError(f"{name} must be a positive integer, got {value!r}")


def require_probabilities(**values) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise RnnlabError(f"{name} must be in [0, 1), got {value!r}")


def check_positive_ints(config, *names: str) -> None:
    require_positive_ints(**{name: getattr(config, name) for name in names})


def check_probabilities(config, *names: str) -> None:
    require_probabilities(**{name: getattr(config, name) for name in names})


class ConfigDict:
    """to_dict / from_dict for a config dataclass; unknown keys are an error that lists the known."""
    what = "model config"      # how error messages name it ("unknown model config keys ...")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RnnlabError(f"unknown {cls.what} keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)
