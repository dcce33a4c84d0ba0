"""rnnlab.nn.attention: the weights are a distribution over the real source positions only."""

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.nn.attention import ATTENTION_KINDS, Attention


def padded_keys(lengths, size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(len(lengths), max(lengths), size, generator=generator)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    # Padding filled with large values: if it leaked into a weight or a context, it would show.
    keys = torch.where(mask.unsqueeze(-1), keys, torch.full_like(keys, 1e3))
    return keys, mask


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_weights_sum_to_one_over_real_positions_and_are_zero_on_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, query_size=6, key_size=6, attention_size=5)
    keys, mask = padded_keys([5, 2, 1, 4], 6)
    query = torch.randn(4, 3, 6)
    context, weights = attention(query, keys, mask)
    assert weights.shape == (4, 3, 5) and context.shape == (4, 3, 6)
    for row, length in enumerate([5, 2, 1, 4]):
        real, padding = weights[row, :, :length], weights[row, :, length:]
        assert torch.allclose(real.sum(-1), torch.ones(3), atol=1e-6)
        assert (real > 0).all()
        assert (padding == 0).all()                       # exactly zero, not merely small
    # a one-token source has all its weight on that token
    assert (weights[2, :, 0] == 1).all()
    # the context is the weighted sum of the real keys only
    expected = torch.einsum("bts,bsd->btd", weights, keys.masked_fill(~mask.unsqueeze(-1), 0))
    assert torch.allclose(context, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_a_source_alone_gets_the_same_context_as_inside_a_padded_batch(kind):
    torch.manual_seed(1)
    attention = Attention(kind, query_size=4, key_size=4)
    keys, mask = padded_keys([6, 3], 4)
    query = torch.randn(2, 5, 4)
    context, weights = attention(query, keys, mask)
    alone_context, alone_weights = attention(query[1:], keys[1:, :3], mask[1:, :3])
    assert torch.allclose(context[1], alone_context[0], atol=1e-6)
    assert torch.allclose(weights[1, :, :3], alone_weights[0], atol=1e-6)


def test_scores_follow_the_published_formulas():
    """Each kind's weights, recomputed here from its formula with the module's parameters."""
    torch.manual_seed(2)
    query, keys = torch.randn(1, 1, 3), torch.randn(1, 4, 3)
    mask = torch.ones(1, 4, dtype=torch.bool)
    q, k = query[0, 0], keys[0]
    dot = Attention("dot", 3, 3)
    general = Attention("general", 3, 3)
    additive = Attention("additive", 3, 3, attention_size=2)
    expected = {
        "dot": k @ q,
        "general": torch.stack([q @ (general.key_proj.weight @ k_s) for k_s in k]),
        "additive": torch.stack([additive.score.weight[0] @ torch.tanh(
            additive.query_proj.weight @ q + additive.query_proj.bias
            + additive.key_proj.weight @ k_s) for k_s in k]),
    }
    for module in (dot, general, additive):
        _, weights = module(query, keys, mask)
        assert torch.allclose(weights[0, 0], torch.softmax(expected[module.kind], 0), atol=1e-6)


def test_dot_attention_needs_equal_sizes_and_unknown_kinds_are_refused():
    with pytest.raises(RnnlabError, match="dot attention needs queries and keys of one size"):
        Attention("dot", 4, 6)
    with pytest.raises(RnnlabError, match="unknown attention 'bahdanau'"):
        Attention("bahdanau", 4, 4)
