"""rnnlab.models.seq2seq.Translator: step-by-step decoding equals teacher forcing, padding
changes nothing, and a run directory saves and loads it exactly."""

import pytest
import torch

from rnnlab.data.subwords import BOS_ID, EOS_ID
from rnnlab.errors import RnnlabError
from rnnlab.models.classifier import RNNClassifier
from rnnlab.models.configs import Seq2SeqConfig
from rnnlab.models.seq2seq import Translator
from rnnlab.tasks.translate import translate_texts


def model_for(**options) -> Translator:
    torch.manual_seed(0)
    config = Seq2SeqConfig(source_vocab_size=40, target_vocab_size=30, embedding_size=12,
                           hidden_size=8, dropout=0.0, **options)
    return Translator(config).eval()


def batch():
    source = torch.tensor([[5, 9, 11, 4, 7], [6, 8, 0, 0, 0], [13, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 2, 1])
    target_in = torch.tensor([[BOS_ID, 4, 7, 9], [BOS_ID, 12, 5, 5], [BOS_ID, 20, 21, 22]])
    return source, lengths, target_in


@pytest.mark.parametrize("options", [
    dict(attention="general"), dict(attention="additive"), dict(attention="dot"),
    dict(attention="none"), dict(cell="lstm", decoder_layers=2),
    dict(bidirectional=False, num_layers=2, tie_embeddings=False, decoder_hidden_size=10),
])
def test_step_by_step_equals_teacher_forcing(options):
    model = model_for(**options)
    source, lengths, target_in = batch()
    with torch.no_grad():
        logits, weights = model(source, lengths, target_in, return_attention=True)
        state = model.encode(source, lengths)
        steps, step_weights = [], []
        for t in range(target_in.shape[1]):
            logp, state = model.step(target_in[:, t], state)
            steps.append(logp)
            step_weights.append(state.weights)
    assert torch.allclose(torch.stack(steps, 1), torch.log_softmax(logits, -1), atol=1e-5)
    if options.get("attention") == "none":
        assert weights is None and step_weights[0] is None
    else:
        assert torch.allclose(torch.stack(step_weights, 1), weights, atol=1e-6)
        assert (weights[1, :, 2:] == 0).all() and (weights[2, :, 1:] == 0).all()


def test_padding_of_other_sentences_changes_no_logit():
    model = model_for(attention="additive")
    source, lengths, target_in = batch()
    with torch.no_grad():
        together = model(source, lengths, target_in)
        alone = model(source[1:2, :2], lengths[1:2], target_in[1:2])
    assert torch.allclose(together[1], alone[0], atol=1e-5)


def test_tied_embeddings_share_one_matrix_and_survive_a_round_trip(reverse_run, tmp_path):
    model = Translator.from_pretrained(reverse_run)
    assert model.output.weight is model.target_embedding.weight
    model.save_pretrained(tmp_path / "copy")
    copy = Translator.from_pretrained(tmp_path / "copy")
    assert copy.output.weight is copy.target_embedding.weight
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, copy.state_dict()[name]), name
    texts = ["a b c", "h g f e d"]
    assert copy.translate(texts, beam=3) == model.translate(texts, beam=3)


def test_config_checks():
    with pytest.raises(RnnlabError, match="dot attention needs the decoder size"):
        Seq2SeqConfig(source_vocab_size=10, target_vocab_size=10, hidden_size=8,
                      decoder_hidden_size=12, attention="dot")
    with pytest.raises(RnnlabError, match="unknown attention 'luong'"):
        Seq2SeqConfig(source_vocab_size=10, target_vocab_size=10, attention="luong")
    with pytest.raises(RnnlabError, match="unknown translator config keys"):
        Seq2SeqConfig.from_dict({"source_vocab_size": 10, "target_vocab_size": 10, "heads": 4})


def test_a_run_of_another_task_is_refused_and_so_is_a_translator_as_classifier(reverse_run):
    with pytest.raises(RnnlabError, match="is a 'translator' checkpoint, but a 'classifier'"):
        RNNClassifier.from_pretrained(reverse_run)


def test_empty_input_gives_empty_output_without_running_the_model(reverse_run):
    model = Translator.from_pretrained(reverse_run)
    results = translate_texts(model, ["", "   ", "a b"], beam=2)
    assert [r.text for r in results[:2]] == ["", ""] and results[0].hypothesis is None
    assert results[2].text == "b a"
    assert EOS_ID not in results[2].ids
