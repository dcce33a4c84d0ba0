"""The char-LM trace: states, gates, predictions and gradient flow, each against a path that
does not go through rnnlab.viz (torch's own modules, the encoder's step API, the model's
forward call, formulas written out here from PyTorch's documentation)."""

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import CellSpec, register_cell, unregister_cell
from rnnlab.viz.encoding import unpack
from rnnlab.viz.lm import lm_payload, step_states, trace_char_lm

from tests.viz.conftest import saved_char_lm

TEXT = 'the cat said "meow" to the dog.\nthe dog said "woof".\n' * 3


def quantity(trace, name):
    return next(q for q in trace.quantities if q.name == name)


@torch.no_grad()
def reference_layers(model, ids):
    """Per-layer h of a plain stack from torch's own single-layer modules (not the encoder)."""
    config = model.config
    kind = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn_tanh": torch.nn.RNN}[config.cell]
    x = model.embedding(torch.as_tensor(ids)).unsqueeze(0)
    outputs = []
    for layer in range(config.num_layers):
        module = kind(x.shape[2], config.hidden_size, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, f"{name}_l0").copy_(model.state_dict()[f"encoder.rnn.{name}_l{layer}"])
        x, _ = module(x)
        outputs.append(x[0].numpy())
    return outputs


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn_tanh"])
def test_states_equal_torch_modules_run_layer_by_layer(tmp_path, cell):
    model = saved_char_lm(tmp_path / "run", TEXT, cell=cell)
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    expected = reference_layers(model, model.vocab.encode(TEXT))
    for layer in range(2):
        np.testing.assert_allclose(quantity(trace, "h").layers[layer], expected[layer], atol=2e-6)


@pytest.mark.parametrize("options", [dict(cell="gru", residual=True, layer_norm=True, num_layers=3),
                                     dict(cell="lstm", layer_norm=True)])
def test_states_equal_the_encoders_step_api(tmp_path, options):
    model = saved_char_lm(tmp_path / "run", TEXT, **options)
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    ids = torch.as_tensor(model.vocab.encode(TEXT))
    hs, cs = step_states(model, model.embedding(ids).detach())
    for layer, h in enumerate(hs):
        np.testing.assert_allclose(quantity(trace, "h").layers[layer], h.numpy(), atol=2e-6)
    if options["cell"] == "lstm":
        for layer, c in enumerate(cs):
            np.testing.assert_allclose(quantity(trace, "c").layers[layer], c.numpy(), atol=2e-6)


def shifted(values):
    """(T, H) -> the value before each step, zeros first."""
    return np.concatenate([np.zeros_like(values[:1]), values[:-1]])


def test_lstm_gates_rebuild_its_states(tmp_path):
    model = saved_char_lm(tmp_path / "run", TEXT, cell="lstm")
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    assert [q.name for q in trace.quantities] == ["h", "c", "i", "f", "g", "o"]
    for layer in range(2):
        i, f, g, o = (quantity(trace, n).layers[layer] for n in "ifgo")
        c = quantity(trace, "c").layers[layer]
        h = quantity(trace, "h").layers[layer]
        np.testing.assert_allclose(c, f * shifted(c) + i * g, atol=2e-6)   # c_t = f c_{t-1} + i g
        np.testing.assert_allclose(h, o * np.tanh(c), atol=2e-6)           # h_t = o tanh(c_t)
        assert 0 <= i.min() and i.max() <= 1 and -1 <= g.min() and g.max() <= 1


def test_gru_gates_rebuild_its_states(tmp_path):
    model = saved_char_lm(tmp_path / "run", TEXT, cell="gru")
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    assert [q.name for q in trace.quantities] == ["h", "r", "z", "n"]
    for layer in range(2):
        z, n = quantity(trace, "z").layers[layer], quantity(trace, "n").layers[layer]
        h = quantity(trace, "h").layers[layer]
        np.testing.assert_allclose(h, (1 - z) * n + z * shifted(h), atol=2e-6)


def test_surprisal_and_top_k_come_from_the_models_own_forward_call(tmp_path):
    model = saved_char_lm(tmp_path / "run", TEXT, cell="gru")
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    ids = model.vocab.encode(TEXT)
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(ids).unsqueeze(0))[0][0].double(), -1).numpy()
    surprisal = trace.surprisal
    assert np.isnan(surprisal[0])
    for t in (1, 5, len(ids) - 1):
        assert surprisal[t] == pytest.approx(-np.log(probs[t - 1, ids[t]]), abs=1e-5)
    top_ids, top_probs = trace.top_k(3)
    for t in (0, 7, len(ids) - 1):
        order = np.argsort(-probs[t])[:3]
        assert top_ids[t].tolist() == order.tolist()
        np.testing.assert_allclose(top_probs[t], probs[t, order], atol=1e-6)


def test_gradient_flow_is_measured_on_the_first_characters(tmp_path):
    from rnnlab.diagnostics.gradflow import char_lm_gradient_flow

    model = saved_char_lm(tmp_path / "run", TEXT, cell="gru")
    trace = trace_char_lm(model, TEXT, gradflow_chars=30)
    payload = lm_payload(trace, model)["gradflow"]
    assert (payload["steps"], payload["layers"]) == (30, 2)
    ids = torch.as_tensor(model.vocab.encode(TEXT))
    fresh = saved_char_lm(tmp_path / "again", TEXT, cell="gru")          # same seed, same weights
    report = char_lm_gradient_flow(fresh, ids[None, :30], ids[None, 1:31])
    np.testing.assert_allclose(unpack(payload["every_log10"]).reshape(2, 30),
                               np.log10(report.every.mean_norms), rtol=1e-5)
    np.testing.assert_allclose(unpack(payload["last_log10"]).reshape(2, 30),
                               np.log10(report.last.mean_norms), rtol=1e-5)
    assert model.embedding.weight.dtype == torch.float32        # the caller's model untouched


def test_gradient_flow_is_left_out_with_a_reason_for_residual_models(tmp_path):
    model = saved_char_lm(tmp_path / "run", TEXT, cell="gru", residual=True)
    trace = trace_char_lm(model, TEXT, gradflow_chars=20)
    assert trace.gradflow is None and "residual" in trace.gradflow_note


def test_unknown_characters_are_listed_or_skipped(tmp_path):
    model = saved_char_lm(tmp_path / "run", TEXT)
    with pytest.raises(RnnlabError, match=r"'Z' x2.*'€' x1"):
        trace_char_lm(model, "the Z cat Z€", gradflow_chars=0)
    trace = trace_char_lm(model, "the Z cat Z€", unknown="skip", gradflow_chars=0)
    assert trace.text == "the  cat "


def test_gates_are_left_out_above_the_automatic_limit(tmp_path, monkeypatch):
    import rnnlab.viz.lm as lm

    model = saved_char_lm(tmp_path / "run", TEXT, cell="gru")
    monkeypatch.setattr(lm, "AUTO_GATE_LIMIT", 10)
    trace = trace_char_lm(model, TEXT, gradflow_chars=0)
    assert [q.name for q in trace.quantities] == ["h"]
    assert "--gates" in trace.notes[0]
    forced = trace_char_lm(model, TEXT, gates=True, gradflow_chars=0)
    assert [q.name for q in forced.quantities] == ["h", "r", "z", "n"]


def toy_lstm_like_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """A user cell with a cell state and no gates the page knows: c' = tanh(a), h' = c'/2."""
    a = x @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
    c_new = torch.tanh(a) + 0.5 * c
    return 0.5 * torch.tanh(c_new), c_new


def test_a_user_cell_with_a_cell_state_is_traced_step_by_step(tmp_path):
    register_cell(CellSpec("toy_memory", gates=1, has_cell_state=True, step=toy_lstm_like_step))
    try:
        model = saved_char_lm(tmp_path / "run", TEXT, cell="toy_memory")
        trace = trace_char_lm(model, TEXT, gradflow_chars=0)
        assert [q.name for q in trace.quantities] == ["h", "c"]
        h, c = quantity(trace, "h").layers[1], quantity(trace, "c").layers[1]
        np.testing.assert_allclose(h, 0.5 * np.tanh(c), atol=1e-6)
        assert quantity(trace, "h").ranges == [None, None]   # unknown bounds: each unit's own
        # the model's own forward call (the generic step-loop layer) gives the same top states
        with torch.no_grad():
            ids = torch.as_tensor(model.vocab.encode(TEXT)).unsqueeze(0)
            out, _ = model.encoder(model.embedding(ids))
        np.testing.assert_allclose(h, out[0].numpy(), atol=1e-6)
    finally:
        unregister_cell("toy_memory")
