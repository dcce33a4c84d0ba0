"""Greedy and beam search (rnnlab.decoding): on hand-built decoders whose answers are worked
out by hand, and on real translators (alone == in a batch, beam 1 == greedy, beam >= greedy)."""

import math

import pytest
import torch

from rnnlab.decoding import SearchOptions, beam_search, greedy_search
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import Seq2SeqConfig
from rnnlab.models.seq2seq import Translator
from rnnlab.tasks.translate import search_batch, translate_texts

BOS, EOS = 2, 3


class TreeDecoder:
    """A decoder given as a tree: node -> {token: (probability, child node)}. Tokens a node does
    not list have probability 0. The state is the current node of every row (N,)."""

    def __init__(self, tree: dict, vocab: int = 20):
        self.tree, self.vocab = tree, vocab
        self.end = max(tree) + 1                      # after </s>: </s> forever
        self.tree[self.end] = {EOS: (1.0, self.end)}

    def start(self, rows: int) -> torch.Tensor:
        return torch.full((rows,), -1, dtype=torch.long)      # -1: before <s>

    def step(self, ids, state):
        nodes = []
        for token, node in zip(ids.tolist(), state.tolist()):
            if node == -1:
                nodes.append(0)                                # <s> leads to the root
            elif token == EOS or node == self.end:
                nodes.append(self.end)
            else:
                nodes.append(self.tree[node][token][1])
        logp = torch.full((len(nodes), self.vocab), float("-inf"))
        for row, node in enumerate(nodes):
            for token, (probability, _) in self.tree[node].items():
                logp[row, token] = math.log(probability)
        return logp, torch.tensor(nodes)

    def expand(self, state, k):
        return state.repeat_interleave(k)

    def reorder(self, state, index):
        return state[index]


A, B, C, W, Y, Z = 4, 5, 6, 7, 8, 9


def length_tree() -> TreeDecoder:
    """Raw log-probability prefers the empty output, the length penalty prefers "a b":
        P(</s>) = .5                 log .5 = -0.693, 1 token
        P(a b </s>) = .5·.9·.9       log .405 = -0.904, 3 tokens: lp(α=1) = 8/6 -> -0.678
    """
    return TreeDecoder({0: {EOS: (0.5, 1), A: (0.5, 2)}, 1: {},
                        2: {B: (0.9, 3), EOS: (0.1, 1)},
                        3: {EOS: (0.9, 1), C: (0.1, 4)}, 4: {EOS: (1.0, 1)}})


@pytest.mark.parametrize("alpha, expected, log_prob", [
    (0.0, [], math.log(0.5)),
    (1.0, [A, B], math.log(0.405)),
])
def test_length_penalty_picks_the_hand_computed_hypothesis(alpha, expected, log_prob):
    decoder = length_tree()
    options = SearchOptions(beam_size=2, length_penalty=alpha, keep_greedy=False)
    [best] = beam_search(decoder, decoder.start(1), torch.tensor([10]), BOS, EOS, options)
    assert best.ids == expected
    assert best.log_prob == pytest.approx(log_prob, abs=1e-6)
    lp = ((5 + len(expected) + 1) / 6) ** alpha
    assert best.score == pytest.approx(log_prob / lp, abs=1e-6)


def pruning_tree() -> TreeDecoder:
    """Plain beam search (k=2) prunes the greedy path here and ends below it:
        greedy: a (.5), then y (.34), then </s> (.4): P = .5·.34·.4 = .068
        beam:   at step 3 the two continuations of "b b" (.27·.35 = .0945 each) beat
                "a y </s>" (.068); they then decay by .95 a step and end with </s> at .05.
    """
    return TreeDecoder({
        0: {A: (0.5, 1), B: (0.3, 2), C: (0.2, 9)},
        1: {Y: (0.34, 3), Z: (0.33, 9), C: (0.33, 9)},          # "a"
        2: {B: (0.9, 4), EOS: (0.1, 9)},                          # "b"
        3: {EOS: (0.4, 9), B: (0.3, 9), C: (0.3, 9)},             # "a y": greedy ends here
        4: {Y: (0.35, 5), Z: (0.35, 5), EOS: (0.3, 9)},           # "b b"
        5: {W: (0.95, 5), EOS: (0.05, 9)},                        # "b b y|z w w …"
        9: {EOS: (1.0, 9)},
    })


def test_plain_beam_search_can_end_below_greedy_and_keep_greedy_prevents_it():
    decoder = pruning_tree()
    limits = torch.tensor([6])
    [greedy] = greedy_search(decoder, decoder.start(1), limits, BOS, EOS)
    assert greedy.ids == [A, Y] and greedy.log_prob == pytest.approx(math.log(0.068), abs=1e-6)
    plain = SearchOptions(beam_size=2, length_penalty=0.0, keep_greedy=False)
    [beam] = beam_search(decoder, decoder.start(1), limits, BOS, EOS, plain)
    assert beam.ids[:3] == [B, B, Y] or beam.ids[:3] == [B, B, Z]
    assert beam.log_prob < greedy.log_prob                       # the failure, as designed
    kept = SearchOptions(beam_size=2, length_penalty=0.0)        # keep_greedy: the default
    [fixed] = beam_search(decoder, decoder.start(1), limits, BOS, EOS, kept)
    assert fixed.ids == greedy.ids and fixed.score == greedy.score


def test_maximum_length_forces_the_end_token_with_its_real_probability():
    decoder = pruning_tree()
    limits = torch.tensor([4])
    [greedy] = greedy_search(decoder, decoder.start(1), limits, BOS, EOS)
    assert not greedy.truncated
    [beam] = beam_search(decoder, decoder.start(1), limits, BOS, EOS,
                         SearchOptions(beam_size=2, length_penalty=0.0, keep_greedy=False))
    # b b y w, then </s> forced at its probability .05: .3·.9·.35·.95·.05
    assert len(beam.ids) == 4 and beam.truncated
    assert beam.log_prob == pytest.approx(math.log(0.3 * 0.9 * 0.35 * 0.95 * 0.05), abs=1e-6)


def test_bad_search_options_are_one_line_errors():
    with pytest.raises(RnnlabError, match="beam size must be a positive integer, got 0"):
        SearchOptions(beam_size=0)
    with pytest.raises(RnnlabError, match="length penalty must be >= 0"):
        SearchOptions(length_penalty=-1.0)
    assert SearchOptions(max_length_ratio=1.5, max_length_extra=3).max_length(7) == 13


# -- real translators --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_translator() -> Translator:
    """An untrained translator with sharpened outputs, so that hypotheses end at different
    lengths and beams disagree with greedy search."""
    torch.manual_seed(3)
    model = Translator(Seq2SeqConfig(source_vocab_size=30, target_vocab_size=12,
                                     embedding_size=16, hidden_size=8, dropout=0.0)).eval()
    with torch.no_grad():
        model.output.bias[EOS] += 2.0
        model.combine.weight.mul_(4.0)
    return model


SOURCES = [[5, 9, 11, 4, 7, 8, 20], [6, 6], [29, 4, 4, 13], [7], [12, 15, 18, 21, 24]]


def rescore(model: Translator, source: list[int], ids: list[int]) -> float:
    """log P(ids </s> | source), computed independently by one teacher-forced forward pass."""
    with torch.no_grad():
        logits = model(torch.tensor([source]), torch.tensor([len(source)]),
                       torch.tensor([[BOS] + ids]))
    logp = torch.log_softmax(logits[0].float(), -1)
    return float(sum(logp[t, token] for t, token in enumerate(ids + [EOS])))


@pytest.mark.parametrize("beam", [1, 4])
def test_a_sentence_alone_equals_the_same_sentence_in_a_padded_batch(random_translator, beam):
    options = SearchOptions(beam_size=beam)
    batch = search_batch(random_translator, SOURCES, options, "cpu")
    for source, in_batch in zip(SOURCES, batch):
        [alone] = search_batch(random_translator, [source], options, "cpu")
        assert alone.ids == in_batch.ids
        assert alone.log_prob == pytest.approx(in_batch.log_prob, abs=1e-4)


def test_beam_one_is_greedy(random_translator):
    greedy = search_batch(random_translator, SOURCES, SearchOptions(beam_size=1), "cpu")
    model, options = random_translator, SearchOptions(beam_size=1)
    from rnnlab.data.padding import pad_sequences

    source, lengths = pad_sequences(SOURCES)
    limits = torch.tensor([options.max_length(int(n)) for n in lengths])
    beam = beam_search(model, model.encode(source, lengths), limits, BOS, EOS, options)
    assert [h.ids for h in beam] == [h.ids for h in greedy]
    assert [h.log_prob for h in beam] == [h.log_prob for h in greedy]


def test_beam_score_is_never_below_greedy_and_scores_are_the_models(random_translator):
    model = random_translator
    greedy = search_batch(model, SOURCES, SearchOptions(beam_size=1), "cpu")
    beam = search_batch(model, SOURCES, SearchOptions(beam_size=5), "cpu")
    for source, g, b in zip(SOURCES, greedy, beam):
        assert b.score >= g.score
        for hypothesis in (g, b):
            assert hypothesis.log_prob == pytest.approx(rescore(model, source, hypothesis.ids),
                                                        abs=1e-4)
    assert any(b.score > g.score + 1e-3 for g, b in zip(greedy, beam)), \
        "beam search never beat greedy: the comparison above would be vacuous"


def test_trained_translator_alone_equals_batch_for_greedy_and_beam(reverse_run, reverse_data):
    model = Translator.from_pretrained(reverse_run)
    sources = reverse_data["dev"][0].read_text(encoding="utf-8").splitlines()[:40]
    for beam in (1, 5):
        together = translate_texts(model, sources, beam=beam, batch_size=16)
        alone = [translate_texts(model, [s], beam=beam)[0] for s in sources[:12]]
        assert [t.text for t in together[:12]] == [a.text for a in alone]
        beam_scores = [t.hypothesis.score for t in together]
        if beam == 1:
            greedy_scores = beam_scores
        else:
            assert all(b >= g for b, g in zip(beam_scores, greedy_scores))
