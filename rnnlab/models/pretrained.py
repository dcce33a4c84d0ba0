"""Saving and loading a model with its config and vocabulary: one mixin for every model.

A model class sets three class attributes and inherits the rest:

    kind          the "kind" written to config.json ("char_lm", "classifier", "tagger", ...)
    config_class  its config dataclass (rnnlab.models.configs): to_dict / from_dict
    vocab_class   its vocabulary class: save(path) / load(path)

and the model object carries `config` and `vocab`. A run directory written by training or by
`save_pretrained` then loads with `Model.from_pretrained(run_dir)`:

    RUN/config.json          {"format_version": 1, "kind": ..., "model": {...}, ...}
    RUN/vocab.json
    RUN/best.safetensors     best weights (training only); RUN/model.safetensors  last weights

A model whose parameter names changed between versions overrides `upgrade_state_dict`, so run
directories written by an older rnnlab keep loading (the char LM does: see models/lm.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnlab.errors import RnnlabError
from rnnlab.train import checkpoint

WEIGHT_CHOICES = ("best", "last")


class Pretrained:
    kind: str
    config_class: type
    vocab_class: type

    def num_parameters(self) -> int:
        # parameters() yields a tied tensor once, so this counts it once.
        return sum(p.numel() for p in self.parameters())

    def require_vocab(self):
        if getattr(self, "vocab", None) is None:
            raise RnnlabError("this model has no vocabulary attached; load it with "
                              "from_pretrained or set model.vocab")
        return self.vocab

    @classmethod
    def check_vocab(cls, vocab, config, source: str) -> None:
        """Raise RnnlabError when `vocab` does not have the sizes `config` was built for."""
        if len(vocab) != config.vocab_size:
            raise RnnlabError(f"{source} has {len(vocab)} entries but the model config says "
                              f"vocab_size {config.vocab_size}")

    @classmethod
    def upgrade_state_dict(cls, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename the tensors of an older version's checkpoint to today's names (default: none)."""
        return weights

    def load_weights_checked(self, weights: dict[str, torch.Tensor], source) -> None:
        """Load a state dict after checking every name and shape (one-line error otherwise)."""
        weights = self.upgrade_state_dict(weights)
        checkpoint.check_state_dict(weights, checkpoint.expected_shapes(self), source)
        self.load_state_dict(weights)

    def save_pretrained(self, run_dir: str | Path) -> Path:
        """Write config.json, vocab.json and model.safetensors (enough for from_pretrained).

        Other sections of an existing config.json (training options, data source) are kept.
        """
        run_dir = Path(run_dir)
        vocab = self.require_vocab()
        run_dir.mkdir(parents=True, exist_ok=True)
        vocab.save(run_dir / checkpoint.VOCAB_FILE)
        checkpoint.save_weights(run_dir / checkpoint.WEIGHTS_FILE, self.state_dict())
        existing = (checkpoint.read_config(run_dir, expected_kind=self.kind)
                    if (run_dir / checkpoint.CONFIG_FILE).exists() else {})
        checkpoint.write_config(run_dir, {**existing, "kind": self.kind,
                                          "model": self.config.to_dict()})
        return run_dir

    @classmethod
    def from_pretrained(cls, run_dir: str | Path, weights: str = "best"):
        """Rebuild a trained model from a run directory; `weights` is "best" or "last".

        A directory without best.safetensors (written by save_pretrained) loads
        model.safetensors. The model comes back in eval mode on the CPU.
        """
        run_dir = Path(run_dir)
        if weights not in WEIGHT_CHOICES:
            raise RnnlabError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
        config = checkpoint.read_config(run_dir, expected_kind=cls.kind)
        if not isinstance(config.get("model"), dict):
            raise RnnlabError(f"{run_dir / checkpoint.CONFIG_FILE} has no 'model' section")
        path = run_dir / (checkpoint.BEST_WEIGHTS_FILE if weights == "best"
                          else checkpoint.WEIGHTS_FILE)
        if not path.exists():
            path = run_dir / checkpoint.WEIGHTS_FILE
        model_config = cls.config_class.from_dict(config["model"])
        vocab = cls.vocab_class.load(run_dir / checkpoint.VOCAB_FILE)
        cls.check_vocab(vocab, model_config, str(run_dir / checkpoint.VOCAB_FILE))
        model = cls(model_config)
        model.vocab = vocab
        model.load_weights_checked(checkpoint.load_weights(path), source=path)
        model.eval()
        return model
