"""Elman step trace: values against scalar loops and torch.nn.RNN, and weights-file errors."""

import json
import math

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.reference.trace import (
    ElmanWeights,
    chapter_example,
    format_trace,
    load_trace_weights,
    trace_elman,
)

# Section 1.3's numbers, typed in again here rather than read from the module under test.
W_XH = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
W_HH = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]
W_HY = [[0.2, 0.4, 0.6]]
INPUTS = [[1.0, 0.5], [0.8, 0.3], [0.6, 0.9]]


def scalar_loop(w_xh, w_hh, w_hy, inputs, b_h=None, b_y=None, h0=None, relu=False):
    """The textbook equations written out entry by entry, with no NumPy."""
    hidden, outputs = len(w_xh), len(w_hy)
    b_h = b_h or [0.0] * hidden
    b_y = b_y or [0.0] * outputs
    h = list(h0 or [0.0] * hidden)
    a_steps, h_steps, y_steps = [], [], []
    for x in inputs:
        a = [sum(w_xh[i][j] * x[j] for j in range(len(x)))
             + sum(w_hh[i][k] * h[k] for k in range(hidden)) + b_h[i] for i in range(hidden)]
        h = [max(v, 0.0) if relu else math.tanh(v) for v in a]
        y = [sum(w_hy[o][i] * h[i] for i in range(hidden)) + b_y[o] for o in range(outputs)]
        a_steps.append(a)
        h_steps.append(h)
        y_steps.append(y)
    return a_steps, h_steps, y_steps


def torch_rnn(w_xh, w_hh, w_hy, inputs, b_h=None, b_y=None, h0=None, relu=False):
    """h_t and y_t from torch.nn.RNN + a linear readout, in float64."""
    hidden, size = len(w_xh), len(w_xh[0])

    def f64(values):
        return torch.tensor(values, dtype=torch.float64)

    rnn = torch.nn.RNN(size, hidden, nonlinearity="relu" if relu else "tanh",
                       dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(f64(w_xh))
        rnn.weight_hh_l0.copy_(f64(w_hh))
        rnn.bias_ih_l0.copy_(f64(b_h or [0.0] * hidden))
        rnn.bias_hh_l0.zero_()
        h, _ = rnn(f64(inputs), f64(h0 or [0.0] * hidden).reshape(1, hidden))
        y = h @ f64(w_hy).T + f64(b_y or [0.0] * len(w_hy))
    return h.numpy(), y.numpy()


def test_chapter_example_matches_scalar_loop_and_torch():
    weights, inputs = chapter_example()
    trace = trace_elman(weights, inputs)

    a, h, y = scalar_loop(W_XH, W_HH, W_HY, INPUTS)
    np.testing.assert_allclose(trace.a, a, rtol=1e-14)
    np.testing.assert_allclose(trace.h, h, rtol=1e-14)
    np.testing.assert_allclose(trace.y, y, rtol=1e-14)
    torch_h, torch_y = torch_rnn(W_XH, W_HH, W_HY, INPUTS)
    np.testing.assert_allclose(trace.h, torch_h, rtol=1e-12)
    np.testing.assert_allclose(trace.y, torch_y, rtol=1e-12)
    np.testing.assert_array_equal(trace.x, INPUTS)


def test_chapter_example_first_step_by_hand():
    # h_0 = 0, so a_1 = W_xh x_1 = [0.1 + 0.1, 0.3 + 0.2, 0.5 + 0.3].
    trace = trace_elman(*chapter_example())
    np.testing.assert_allclose(trace.a[0], [0.2, 0.5, 0.8], rtol=1e-15)
    np.testing.assert_allclose(trace.h[0], np.tanh([0.2, 0.5, 0.8]), rtol=1e-15)


def test_relu_biases_and_initial_state_match_torch():
    rng = np.random.default_rng(3)
    w_xh, w_hh = rng.normal(size=(4, 2)).tolist(), (0.5 * rng.normal(size=(4, 4))).tolist()
    w_hy, b_h = rng.normal(size=(2, 4)).tolist(), rng.normal(size=4).tolist()
    b_y, h0 = rng.normal(size=2).tolist(), rng.uniform(size=4).tolist()
    inputs = rng.normal(size=(5, 2)).tolist()
    weights = ElmanWeights(w_xh, w_hh, w_hy, b_h=b_h, b_y=b_y, h0=h0, nonlinearity="relu")
    trace = trace_elman(weights, inputs)

    a, h, y = scalar_loop(w_xh, w_hh, w_hy, inputs, b_h, b_y, h0, relu=True)
    np.testing.assert_allclose(trace.a, a, rtol=1e-13, atol=1e-15)
    torch_h, torch_y = torch_rnn(w_xh, w_hh, w_hy, inputs, b_h, b_y, h0, relu=True)
    np.testing.assert_allclose(trace.h, torch_h, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(trace.y, torch_y, rtol=1e-12, atol=1e-15)
    assert np.any(trace.h == 0) and np.any(trace.h > 0)  # relu really clipped something


def write_json(tmp_path, document, name="weights.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def chapter_document(**changes):
    document = {"W_xh": W_XH, "W_hh": W_HH, "W_hy": W_HY, "inputs": INPUTS}
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def test_weights_file_gives_the_same_trace_as_the_built_in(tmp_path):
    path = write_json(tmp_path, chapter_document(nonlinearity="tanh", b_y=[0.0]))
    from_file = trace_elman(*load_trace_weights(path))
    built_in = trace_elman(*chapter_example())
    for name in ("x", "a", "h", "y"):
        assert np.array_equal(getattr(from_file, name), getattr(built_in, name))


def test_inputs_are_optional_in_the_file(tmp_path):
    weights, inputs = load_trace_weights(write_json(tmp_path, chapter_document(inputs=None)))
    assert inputs.shape == (0, 2) and weights.hidden_size == 3


@pytest.mark.parametrize("document, message", [
    (chapter_document(W_hh=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]),
     "weights.json: W_hh has shape (3, 2) but must be (3, 3) "
     "(hidden_size × hidden_size, hidden_size=3 from W_xh)"),
    (chapter_document(W_hy=[[0.2, 0.4]]),
     "weights.json: W_hy has shape (1, 2) but must be (1, 3) "
     "(output_size × hidden_size, hidden_size=3 from W_xh)"),
    (chapter_document(b_h=[0.0, 0.0]),
     "weights.json: b_h has shape (2,) but must be (3,) (hidden_size, hidden_size=3 from W_xh)"),
    (chapter_document(b_y=[0.0, 0.0]),
     "weights.json: b_y has shape (2,) but must be (1,) "
     "(output_size, output_size=1 from W_hy)"),
    (chapter_document(h0=[0.0]),
     "weights.json: h0 has shape (1,) but must be (3,)"),
    (chapter_document(inputs=[[1.0, 0.5], [0.8, 0.3, 0.1]]),
     "weights.json: inputs[1] has shape (3,) but must be (2,) "
     "(input_size, input_size=2 from W_xh)"),
    (chapter_document(W_hh=None), "weights.json: missing key 'W_hh'"),
    (chapter_document(W_hh=[[0.1, 0.2, "x"], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]),
     'weights.json: W_hh[0][2] must be a number, got "x"'),
    (chapter_document(W_xh=[[0.1, True], [0.3, 0.4], [0.5, 0.6]]),
     "weights.json: W_xh[0][1] must be a number, got true"),
    (chapter_document(b_h=[0.0, None, 0.0]), "weights.json: b_h[1] must be a number, got null"),
    (chapter_document(W_hh=[[0.1, 0.2, 0.3], [0.4, 0.5], [0.7, 0.8, 0.9]]),
     "weights.json: W_hh[1] has 2 entries but W_hh[0] has 3"),
    (chapter_document(W_hh=[0.1, 0.2, 0.3]),
     "weights.json: W_hh must be a matrix, a list of rows (hidden_size × hidden_size)"),
    (chapter_document(W_xh=[]), "weights.json: W_xh is empty"),
    (chapter_document(nonlinearity="sigmoid"),
     'weights.json: nonlinearity is "sigmoid" but must be "tanh" or "relu"'),
    (chapter_document(b_hh=[0.0]), "weights.json: unknown key 'b_hh'"),
    ([1, 2], "weights.json: must be a JSON object"),
])
def test_bad_weights_file_errors_name_file_key_and_shape(tmp_path, document, message):
    path = write_json(tmp_path, document)
    with pytest.raises(RnnlabError) as caught:
        load_trace_weights(path)
    assert str(caught.value).startswith(str(path.parent) + "/" + message)


def test_invalid_json_reports_line_and_column(tmp_path):
    path = write_json(tmp_path, '{\n  "W_xh": [[0.1, 0.2],\n  "W_hh": []\n}')
    with pytest.raises(RnnlabError, match=r"weights\.json: invalid JSON at line 3, column 9"):
        load_trace_weights(path)


def test_non_finite_entries_are_errors(tmp_path):
    path = write_json(tmp_path, '{"W_xh": [[NaN, 0]], "W_hh": [[1]], "W_hy": [[1]]}')
    with pytest.raises(RnnlabError, match=r"W_xh\[0\]\[0\] is nan; entries must be finite"):
        load_trace_weights(path)


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(RnnlabError, match="nope.json: no such file"):
        load_trace_weights(tmp_path / "nope.json")


def test_table_lists_every_step_with_rounded_values():
    trace = trace_elman(*chapter_example())
    table = format_trace(trace, precision=3)
    lines = table.splitlines()
    assert "hidden_size=3" in lines[1]
    step_rows = [line for line in lines if line[:1].isdigit()]
    assert [row.split()[0] for row in step_rows] == ["0", "1", "2", "3"]
    for t, row in enumerate(step_rows[1:]):
        for value in [*trace.x[t], *trace.a[t], *trace.h[t], *trace.y[t]]:
            assert f"{value:.3f}" in row
    assert "[0.000, 0.000, 0.000]" in step_rows[0]


def test_weights_are_read_only_copies():
    w_xh = np.array(W_XH)
    weights = ElmanWeights(w_xh, W_HH, W_HY)
    w_xh[0, 0] = 99.0
    assert weights.W_xh[0, 0] == 0.1
    with pytest.raises(ValueError):
        weights.W_xh[0, 0] = 1.0
