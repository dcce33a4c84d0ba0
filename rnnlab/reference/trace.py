"""Step-by-step trace of the textbook Elman RNN, for checking hand calculations.

The network, for t = 1, 2, ..., T:

    a_t = W_xh x_t + W_hh h_{t-1} + b_h      pre-activation        (hidden_size,)
    h_t = tanh(a_t)   (or relu(a_t))         hidden state          (hidden_size,)
    y_t = W_hy h_t + b_y                     output                (output_size,)

with W_xh (hidden_size, input_size), W_hh (hidden_size, hidden_size),
W_hy (output_size, hidden_size) and h_0 given (zero by default).

Weights come from a JSON file (`load_trace_weights`) or from the chapter's worked example of
section 1.3 (`chapter_example`). Every problem with a file is an RnnlabError that names the
file, the key and what was expected.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnnlab.errors import RnnlabError

NONLINEARITIES = ("tanh", "relu")
REQUIRED_KEYS = ("W_xh", "W_hh", "W_hy")
OPTIONAL_KEYS = ("b_h", "b_y", "h0", "inputs", "nonlinearity")

CHAPTER_EXAMPLE_TITLE = "chapter example (section 1.3)"


# -- converting JSON values to checked arrays ------------------------------------------------


def _describe(value: Any) -> str:
    """A short JSON-style rendering of a bad value for error messages."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as an int; they are not weights.
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_finite(value: numbers.Real) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer literal too large for a float
        return False


def _vector(value: Any, name: str, source: str, meaning: str) -> np.ndarray:
    """A list of finite numbers -> float64 array of shape (n,). `meaning` names the shape."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise RnnlabError(
            f"{source}: {name} must be a list of numbers ({meaning}), got {_describe(value)}"
        )
    for index, entry in enumerate(value):
        if not _is_number(entry):
            raise RnnlabError(
                f"{source}: {name}[{index}] must be a number, got {_describe(entry)}"
            )
        if not _is_finite(entry):
            raise RnnlabError(
                f"{source}: {name}[{index}] is {entry}; entries must be finite numbers"
            )
    return np.array(value, dtype=np.float64).reshape(len(value))


def _matrix(value: Any, name: str, source: str, meaning: str) -> np.ndarray:
    """A non-empty list of equally long rows of finite numbers -> float64 (rows, cols)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise RnnlabError(
            f"{source}: {name} must be a matrix, a list of rows ({meaning}), "
            f"got {_describe(value)}"
        )
    if value and _is_number(value[0]):
        # A flat list is the most likely slip; say so rather than blame its first entry.
        raise RnnlabError(
            f"{source}: {name} must be a matrix, a list of rows ({meaning}), "
            "got a flat list of numbers"
        )
    rows = [_vector(row, f"{name}[{index}]", source, "one matrix row")
            for index, row in enumerate(value)]
    for index, row in enumerate(rows[1:], start=1):
        if len(row) != len(rows[0]):
            raise RnnlabError(
                f"{source}: {name}[{index}] has {len(row)} entries but {name}[0] has "
                f"{len(rows[0])}; all rows of {name} must have the same length"
            )
    if not rows or len(rows[0]) == 0:
        raise RnnlabError(f"{source}: {name} is empty; it must be {meaning}")
    return np.stack(rows)


def _require_shape(array: np.ndarray, name: str, expected: tuple[int, ...], source: str,
                   explanation: str) -> None:
    if array.shape != expected:
        raise RnnlabError(
            f"{source}: {name} has shape {array.shape} but must be {expected} ({explanation})"
        )


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# -- weights ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ElmanWeights:
    """Weights of the textbook Elman RNN, checked and stored as read-only float64 arrays.

    Fields accept nested lists or arrays. Shapes (H = hidden_size, I = input_size,
    O = output_size; H and I are read from W_xh, O from W_hy):
        W_xh (H, I), W_hh (H, H), W_hy (O, H), b_h (H,), b_y (O,), h0 (H,)
    Omitted biases and h0 are zero. `source` prefixes error messages (a file name).
    """

    W_xh: Any
    W_hh: Any
    W_hy: Any
    b_h: Any = None
    b_y: Any = None
    h0: Any = None
    nonlinearity: str = "tanh"
    source: str = field(default="ElmanWeights", repr=False)

    def __post_init__(self) -> None:
        src = self.source
        w_xh = _matrix(self.W_xh, "W_xh", src, "hidden_size × input_size")
        hidden, _inputs = w_xh.shape
        from_w_xh = f"hidden_size={hidden} from W_xh"
        w_hh = _matrix(self.W_hh, "W_hh", src, "hidden_size × hidden_size")
        _require_shape(w_hh, "W_hh", (hidden, hidden), src,
                       f"hidden_size × hidden_size, {from_w_xh}")
        w_hy = _matrix(self.W_hy, "W_hy", src, "output_size × hidden_size")
        outputs = w_hy.shape[0]
        _require_shape(w_hy, "W_hy", (outputs, hidden), src,
                       f"output_size × hidden_size, {from_w_xh}")

        def optional_vector(value: Any, name: str, size: int, explanation: str) -> np.ndarray:
            if value is None:
                return np.zeros(size)
            vector = _vector(value, name, src, explanation)
            _require_shape(vector, name, (size,), src, explanation)
            return vector

        b_h = optional_vector(self.b_h, "b_h", hidden, f"hidden_size, {from_w_xh}")
        b_y = optional_vector(self.b_y, "b_y", outputs,
                              f"output_size, output_size={outputs} from W_hy")
        h0 = optional_vector(self.h0, "h0", hidden, f"hidden_size, {from_w_xh}")
        if self.nonlinearity not in NONLINEARITIES:
            raise RnnlabError(
                f"{src}: nonlinearity is {_describe(self.nonlinearity)} but must be "
                + " or ".join(f'"{name}"' for name in NONLINEARITIES)
            )
        for name, array in (("W_xh", w_xh), ("W_hh", w_hh), ("W_hy", w_hy), ("b_h", b_h),
                            ("b_y", b_y), ("h0", h0)):
            object.__setattr__(self, name, _read_only(array))

    @property
    def input_size(self) -> int:
        return self.W_xh.shape[1]

    @property
    def hidden_size(self) -> int:
        return self.W_xh.shape[0]

    @property
    def output_size(self) -> int:
        return self.W_hy.shape[0]


def check_inputs(inputs: Any, weights: ElmanWeights, name: str = "inputs",
                 source: str = "inputs") -> np.ndarray:
    """A list of x_t vectors -> read-only float64 array (steps, input_size); may have 0 steps."""
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if not isinstance(inputs, (list, tuple)):
        raise RnnlabError(
            f"{source}: {name} must be a list of x_t vectors, got {_describe(inputs)}"
        )
    size = weights.input_size
    explanation = f"input_size, input_size={size} from W_xh"
    rows = []
    for step, x_t in enumerate(inputs):
        row_name = f"{name}[{step}]"
        vector = _vector(x_t, row_name, source, f"one x_t vector of length input_size={size}")
        _require_shape(vector, row_name, (size,), source, explanation)
        rows.append(vector)
    return _read_only(np.array(rows, dtype=np.float64).reshape(len(rows), size))


class TraceSetup(NamedTuple):
    """What a trace needs: the weights and the input sequence x_1..x_T, (T, input_size)."""

    weights: ElmanWeights
    inputs: np.ndarray


def load_trace_weights(path: str | Path) -> TraceSetup:
    """Reads and checks a JSON weights file.

    Keys: W_xh, W_hh, W_hy (required, lists of rows); b_h, b_y, h0 (optional vectors, zero
    when absent); inputs (optional list of x_t vectors; no steps when absent); nonlinearity
    (optional, "tanh" or "relu"). Unknown keys are errors, so a misspelt optional key is not
    silently ignored.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RnnlabError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise RnnlabError(f"{source}: is a directory, not a JSON file") from None
    except UnicodeDecodeError as err:
        raise RnnlabError(f"{source}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise RnnlabError(f"{source}: cannot read: {err.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise RnnlabError(
            f"{source}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    if not isinstance(document, dict):
        raise RnnlabError(
            f"{source}: must be a JSON object with keys {', '.join(REQUIRED_KEYS)}, "
            f"got {_describe(document)}"
        )
    allowed = REQUIRED_KEYS + OPTIONAL_KEYS
    for key in document:
        if key not in allowed:
            raise RnnlabError(
                f"{source}: unknown key {key!r}; allowed keys are {', '.join(allowed)}"
            )
    for key, meaning in zip(REQUIRED_KEYS, ("hidden_size × input_size matrix",
                                            "hidden_size × hidden_size matrix",
                                            "output_size × hidden_size matrix")):
        if key not in document:
            raise RnnlabError(f"{source}: missing key {key!r} (the {meaning})")
    weights = ElmanWeights(
        W_xh=document["W_xh"], W_hh=document["W_hh"], W_hy=document["W_hy"],
        b_h=document.get("b_h"), b_y=document.get("b_y"), h0=document.get("h0"),
        nonlinearity=document.get("nonlinearity", "tanh"), source=source,
    )
    inputs = check_inputs(document.get("inputs", []), weights, source=source)
    return TraceSetup(weights, inputs)


def chapter_example() -> TraceSetup:
    """The worked example of section 1.3: input_size 2, hidden_size 3, output_size 1, tanh,
    zero biases, h_0 = 0, three input steps."""
    weights = ElmanWeights(
        W_xh=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
        W_hh=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
        W_hy=[[0.2, 0.4, 0.6]],
        nonlinearity="tanh",
        source=CHAPTER_EXAMPLE_TITLE,
    )
    inputs = check_inputs([[1.0, 0.5], [0.8, 0.3], [0.6, 0.9]], weights,
                          source=CHAPTER_EXAMPLE_TITLE)
    return TraceSetup(weights, inputs)


# -- running and printing ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ElmanTrace:
    """Everything computed at each step; row t - 1 of each array belongs to step t.

    x (T, input_size), a (T, hidden_size), h (T, hidden_size), y (T, output_size);
    weights.h0 is the state before step 1.
    """

    weights: ElmanWeights
    x: np.ndarray
    a: np.ndarray
    h: np.ndarray
    y: np.ndarray

    @property
    def steps(self) -> int:
        return self.x.shape[0]


def trace_elman(weights: ElmanWeights, inputs: Any) -> ElmanTrace:
    """Runs the Elman RNN over inputs (T, input_size), recording a_t, h_t and y_t."""
    x = check_inputs(inputs, weights)
    activation = np.tanh if weights.nonlinearity == "tanh" else (lambda a: np.maximum(a, 0.0))
    a_rows, h_rows, y_rows = [], [], []
    h_prev = weights.h0
    for x_t in x:
        a_t = weights.W_xh @ x_t + weights.W_hh @ h_prev + weights.b_h
        h_t = activation(a_t)
        y_t = weights.W_hy @ h_t + weights.b_y
        a_rows.append(a_t)
        h_rows.append(h_t)
        y_rows.append(y_t)
        h_prev = h_t

    def stacked(rows: list[np.ndarray], width: int) -> np.ndarray:
        return _read_only(np.array(rows, dtype=np.float64).reshape(len(rows), width))

    return ElmanTrace(
        weights=weights, x=x,
        a=stacked(a_rows, weights.hidden_size),
        h=stacked(h_rows, weights.hidden_size),
        y=stacked(y_rows, weights.output_size),
    )


def _format_number(value: float, precision: int) -> str:
    text = f"{value:.{precision}f}"
    # "-0.0000" reads as a sign error in a hand calculation; show it as zero.
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_trace(trace: ElmanTrace, *, precision: int = 4, title: str | None = None) -> str:
    """A plain-text table with one row per step: t, x_t, a_t, h_t, y_t.

    Row t = 0 shows only h_0. Numbers are rounded to `precision` decimals and right-aligned
    so that entries of each column line up.
    """
    w = trace.weights
    heading = ["t", "x_t", "a_t = W_xh x_t + W_hh h_(t-1) + b_h",
               f"h_t = {w.nonlinearity}(a_t)", "y_t = W_hy h_t + b_y"]
    vectors: list[list[np.ndarray | None]] = [[None, None, w.h0, None]]
    for t in range(trace.steps):
        vectors.append([trace.x[t], trace.a[t], trace.h[t], trace.y[t]])

    # One number width per column keeps vector entries aligned from row to row.
    number_widths = []
    for column in range(4):
        texts = [_format_number(v, precision) for row in vectors
                 if row[column] is not None for v in row[column]]
        number_widths.append(max((len(s) for s in texts), default=1))

    def cell(vector: np.ndarray | None, width: int) -> str:
        if vector is None:
            return ""
        return "[" + ", ".join(_format_number(v, precision).rjust(width) for v in vector) + "]"

    rows = [heading] + [
        [str(t)] + [cell(vector, number_widths[c]) for c, vector in enumerate(row)]
        for t, row in enumerate(vectors)
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(heading))]

    def line(row: list[str]) -> str:
        first = row[0].rjust(widths[0])
        rest = [text.ljust(width) for text, width in zip(row[1:], widths[1:])]
        return "  ".join([first] + rest).rstrip()

    header = [
        f"Elman RNN step trace: {title or w.source}",
        f"input_size={w.input_size}  hidden_size={w.hidden_size}  "
        f"output_size={w.output_size}  nonlinearity={w.nonlinearity}",
        "",
    ]
    table = [line(rows[0]), line(["-" * width for width in widths])]
    table += [line(row) for row in rows[1:]]
    return "\n".join(header + table) + "\n"
