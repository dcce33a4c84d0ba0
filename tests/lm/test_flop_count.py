"""benchmarks/bench_cpu_utilisation.py counts a char LM's training FLOPs analytically; the count
must match the model rnnlab actually builds."""

import sys
from pathlib import Path

import pytest

from rnnlab.models.configs import CharLMConfig
from rnnlab.models.lm import CharLM

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_cpu_utilisation import EMBEDDING, training_flops_per_char  # noqa: E402


@pytest.mark.parametrize("cell, layers, hidden", [("gru", 2, 48), ("lstm", 2, 32),
                                                  ("lstm", 1, 40), ("rnn_tanh", 3, 16)])
def test_flop_count_matches_the_models_weight_matrices(cell, layers, hidden):
    # Each entry of a recurrent or output weight matrix is one multiply-add per character;
    # the embedding is a lookup, the biases additions.
    model = CharLM(CharLMConfig(vocab_size=65, cell=cell, embedding_size=EMBEDDING,
                                hidden_size=hidden, num_layers=layers))
    matrices = sum(p.numel() for name, p in model.named_parameters()
                   if p.dim() == 2 and not name.startswith("embedding"))
    assert training_flops_per_char(cell, layers, hidden, 65) == 6 * matrices
