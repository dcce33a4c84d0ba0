"""Reading and writing run directories: config, weights and resumable trainer state.

Every rnnlab model (language model, classifier, tagger) saves into the same layout::

    RUN/
      config.json                  {"format_version": 1, "kind": ..., "model": {}, "train": {}}
      vocab.json                   written by the caller with `atomic_write_json`
      model.safetensors            last weights
      best.safetensors             best-validation weights
      trainer_state.json           everything in the trainer state that is not a tensor
      trainer_state.safetensors    the tensors of the trainer state

Three rules shape this module.

* Nothing is written in place. Every file goes to a temporary file in the same directory, is
  flushed and fsync'ed, then renamed over the target (`os.replace` is atomic on POSIX and
  Windows). A crash or Ctrl-C at any moment leaves either the old file or the new one, never a
  mix, which matters because a training run overwrites its checkpoint every few minutes.

* No pickle. Unpickling runs arbitrary code, so a checkpoint from someone else would be a
  program. Tensors go into safetensors files (a JSON header plus raw bytes) and everything else
  into plain JSON.

* Damage is reported, not loaded. Weight files carry a sha256 of their own content in the
  safetensors header, and the trainer-state JSON carries a sha256 of its tensor file, so a
  truncated, bit-flipped or mismatched file raises `RnnlabError` naming the file instead of
  producing a model with silently wrong numbers.

Tied weights
------------
safetensors refuses two names that share storage (for example an embedding and an output layer
that use the same matrix). `save_weights` stores such tensors as independent copies, one per
name, and records the groups under the header key ``rnnlab.shared`` (see
`read_weights_metadata`). Loading therefore returns untied tensors. A caller re-ties them by
building the model tied first and then calling ``model.load_state_dict(loaded)``: that copies
values INTO the existing parameters, so parameters that are one object stay one object. Only
``load_state_dict(..., assign=True)`` replaces parameter objects; after it, re-tie by hand
(``model.decoder.weight = model.embedding.weight``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import safetensors.torch
from safetensors import SafetensorError

from rnnlab.atomic import atomic_write_bytes, atomic_write_json, os_reason as _os_reason  # noqa: F401 (re-exported)
from rnnlab.errors import RnnlabError

PathLike = str | os.PathLike

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.safetensors"
BEST_WEIGHTS_FILE = "best.safetensors"
TRAINER_STATE_NAME = "trainer_state"

# The config.json format written by this version of rnnlab.
FORMAT_VERSION = 1
# The trainer_state.json format; versioned separately because it changes for different reasons.
STATE_FORMAT_VERSION = 1

# Header metadata keys that rnnlab manages itself; callers may not use the prefix.
RESERVED_METADATA_PREFIX = "rnnlab."
DIGEST_METADATA_KEY = "rnnlab.sha256"
SHARED_METADATA_KEY = "rnnlab.shared"

# How many names an error message lists before it says "and N more".
_MAX_NAMES_IN_MESSAGE = 8


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.exists():
        raise RnnlabError(f"{what} {path} does not exist")
    try:
        return path.read_bytes()
    except OSError as err:
        raise RnnlabError(f"cannot read {what} {path}: {_os_reason(err)}") from err


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def save_weights(
    path: PathLike,
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save tensors to a safetensors file, atomically, with a content digest in its header.

    Tensors may live on any device, be non-contiguous or share storage (tied weights); the file
    always holds one independent, contiguous CPU copy per name. `metadata` is free text for the
    caller (string keys and values); keys starting with "rnnlab." are reserved.
    """
    tensors = _check_tensor_dict(state_dict)
    caller_metadata = _check_caller_metadata(metadata)
    tied_groups = _tied_groups(tensors)
    prepared = _prepare_for_safetensors(tensors)
    header_metadata = dict(caller_metadata)
    if tied_groups:
        header_metadata[SHARED_METADATA_KEY] = json.dumps(tied_groups)
    header_metadata[DIGEST_METADATA_KEY] = _content_digest(prepared, header_metadata)
    atomic_write_bytes(path, safetensors.torch.save(prepared, metadata=header_metadata))


def load_weights(path: PathLike, *, verify: bool = True) -> dict[str, torch.Tensor]:
    """Load the tensors of a safetensors file onto the CPU.

    Raises RnnlabError if the file is missing, truncated, not safetensors, or (with `verify`,
    the default) if its content does not match the digest `save_weights` stored in it. Pass
    verify=False only to read safetensors files written by other tools.
    """
    tensors, _ = _read_weights_file(Path(path), verify)
    return tensors


def read_weights_metadata(path: PathLike, *, verify: bool = True) -> dict[str, str]:
    """The header metadata of a weights file: the caller's entries plus the "rnnlab." ones.

    "rnnlab.shared", when present, is a JSON list of name groups that were one tensor (tied)
    when saved.
    """
    _, metadata = _read_weights_file(Path(path), verify)
    return metadata


def expected_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The names and shapes a module's `load_state_dict` expects, for `check_state_dict`."""
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def check_state_dict(
    loaded: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    source: PathLike | str,
) -> None:
    """Raise RnnlabError, in one line, if `loaded` lacks, adds or reshapes any expected tensor.

    `source` names where `loaded` came from (usually the file) so the message can say it.
    """
    missing = [name for name in expected if name not in loaded]
    unexpected = [name for name in loaded if name not in expected]
    mismatched = [
        f"{name} is {_format_shape(loaded[name].shape)}, expected {_format_shape(shape)}"
        for name, shape in expected.items()
        if name in loaded and tuple(loaded[name].shape) != tuple(shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_list_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_list_names(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {_list_names(mismatched)}")
    if problems:
        raise RnnlabError(f"{source} does not fit the model: " + "; ".join(problems))


def _check_tensor_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    tensors = dict(state_dict)
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"weight names must be strings, got {name!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"weight {name!r} is a {type(value).__name__}, not a torch.Tensor")
    return tensors


def _check_caller_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    checked = dict(metadata or {})
    for key, value in checked.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"weights metadata must map str to str, got {key!r}: {value!r}")
        if key.startswith(RESERVED_METADATA_PREFIX):
            raise ValueError(f"weights metadata key {key!r} uses the reserved prefix 'rnnlab.'")
    return checked


def _shared_storage_groups(tensors: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """Groups of two or more names whose tensors use the same memory, in any way."""
    return _group_names(tensors, lambda t: t.untyped_storage().data_ptr())


def _tied_groups(tensors: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """Groups of names that are the very same tensor (tied weights).

    Narrower than sharing storage: cuDNN RNN weights, for instance, are separate views into one
    flat buffer, which safetensors also refuses but which are not tied.
    """
    return _group_names(
        tensors, lambda t: (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
    )


def _group_names(tensors: Mapping[str, torch.Tensor], identity) -> list[list[str]]:
    groups: dict[Any, list[str]] = {}
    for name, tensor in tensors.items():
        if tensor.untyped_storage().data_ptr() == 0:
            continue  # Empty tensors own no memory, so nothing can be shared with them.
        groups.setdefault((str(tensor.device), identity(tensor)), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _prepare_for_safetensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dense, contiguous CPU tensors, no two of which share storage (safetensors requires it)."""
    prepared = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in tensors.items()
    }
    for group in _shared_storage_groups(prepared):
        # The first name keeps the original memory; the others get their own copy.
        for name in group[1:]:
            prepared[name] = prepared[name].clone()
    return prepared


def _content_digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """sha256 over every name, dtype, shape, byte and metadata entry except the digest itself.

    Covering the names and shapes, not just the data, is what catches a flipped byte in the
    header that still leaves valid JSON (a renamed tensor, for instance).
    """
    digest = hashlib.sha256()
    signed_metadata = sorted((k, v) for k, v in metadata.items() if k != DIGEST_METADATA_KEY)
    digest.update(json.dumps(signed_metadata).encode("utf-8"))
    for name in sorted(tensors):
        tensor = tensors[name]
        description = [name, str(tensor.dtype), list(tensor.shape)]
        digest.update(json.dumps(description).encode("utf-8"))
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def _read_weights_file(path: Path, verify: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    data = _read_bytes(path, "weights file")
    tensors, metadata = _parse_safetensors(data, path)
    if verify:
        _verify_content_digest(tensors, metadata, path)
    return tensors, metadata


def _parse_safetensors(data: bytes, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Decode safetensors bytes, turning every way they can be malformed into RnnlabError."""
    try:
        loaded = safetensors.torch.load(data)
        metadata = _header_metadata(data)
    # Whatever the parser raises on these bytes means they are not a valid file: its own error,
    # an unknown dtype (KeyError), a shape that does not fit the data (RuntimeError), and so on.
    except (SafetensorError, ValueError, KeyError, TypeError, RuntimeError, AssertionError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RnnlabError(
            f"{path} is corrupt or truncated (not a valid safetensors file: {reason})"
        ) from err
    # Copy out of the bytes object so the tensors own ordinary, writable memory.
    tensors = {name: tensor.clone() for name, tensor in loaded.items()}
    return tensors, metadata


def _header_metadata(data: bytes) -> dict[str, str]:
    # Layout (already validated by safetensors): 8-byte little-endian header length, JSON header.
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    return dict(header.get("__metadata__") or {})


def _verify_content_digest(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], path: Path
) -> None:
    stored = metadata.get(DIGEST_METADATA_KEY)
    if stored is None:
        raise RnnlabError(
            f"{path} is corrupt or was not written by rnnlab: its header has no "
            f"'{DIGEST_METADATA_KEY}' digest"
        )
    if stored != _content_digest(tensors, metadata):
        raise RnnlabError(
            f"{path} is corrupt or truncated: its content does not match the digest stored in it"
        )


def _format_shape(shape: Iterable[int]) -> str:
    return str(tuple(int(size) for size in shape))  # Python's spelling: (5,) and ()


def _list_names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGE])
    hidden = len(names) - _MAX_NAMES_IN_MESSAGE
    return shown + (f" and {hidden} more" if hidden > 0 else "")


# --------------------------------------------------------------------------------------------
# Trainer state: nested Python values and tensors, without pickle
# --------------------------------------------------------------------------------------------
#
# The state is split in two. Tensors and NumPy arrays go to a safetensors file under path-like
# keys ("optimizer/state/0/exp_avg"). The rest becomes JSON, where a few one-key objects tag
# what plain JSON cannot say, so that every value comes back with its exact type:
#
#   {"$tensor": KEY}          a torch tensor stored under KEY (returned on the CPU)
#   {"$ndarray": KEY}         a NumPy array stored under KEY
#   {"$numpy": [DTYPE, V]}    a NumPy scalar such as np.float32(0.5)
#   {"$tuple": [...]}         a tuple (JSON only has lists)
#   {"$dict": [[K, V], ...]}  a dict with a key that is not a string or starts with "$";
#                             optimizer state is keyed by parameter index, an int
#   {"$float": "nan"}         NaN, inf or -inf, which strict JSON does not allow
#
# Dicts whose keys are all strings without a leading "$" stay plain JSON objects, so the file
# remains readable. Subclasses (OrderedDict, namedtuple, nn.Parameter) come back as the base
# type, and two references to one tensor come back as two equal tensors.

_TENSOR_TAG = "$tensor"
_NDARRAY_TAG = "$ndarray"
_NUMPY_SCALAR_TAG = "$numpy"
_TUPLE_TAG = "$tuple"
_DICT_TAG = "$dict"
_FLOAT_TAG = "$float"


def save_state(dir_or_prefix: PathLike, state: Any) -> None:
    """Save a nested trainer state (optimizer, schedule, step, RNG states ...) without pickle.

    `dir_or_prefix` is either an existing directory, which gets trainer_state.json and
    trainer_state.safetensors, or a path prefix P, which gets P.json and P.safetensors.
    The tensor file is written first and the JSON last, with the tensor file's sha256 in it:
    a crash between the two leaves a pair that `load_state` refuses rather than mixes.
    """
    json_path, tensor_path = state_paths(dir_or_prefix)
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, [], tensors)
    tensor_bytes = safetensors.torch.save(_prepare_for_safetensors(tensors))
    atomic_write_bytes(tensor_path, tensor_bytes)
    document = {
        "format_version": STATE_FORMAT_VERSION,
        "tensor_file_sha256": hashlib.sha256(tensor_bytes).hexdigest(),
        "state": encoded,
    }
    atomic_write_json(json_path, document)


def load_state(dir_or_prefix: PathLike) -> Any:
    """Load what `save_state` saved, with every type as it was; tensors come back on the CPU."""
    json_path, tensor_path = state_paths(dir_or_prefix)
    if not json_path.exists():
        raise RnnlabError(f"no trainer state: {json_path} does not exist")
    document = _parse_json_file(json_path)
    _check_state_document(document, json_path)
    if not tensor_path.exists():
        raise RnnlabError(f"{tensor_path} is missing ({json_path.name} needs it)")
    tensor_bytes = _read_bytes(tensor_path, "trainer state file")
    if hashlib.sha256(tensor_bytes).hexdigest() != document["tensor_file_sha256"]:
        raise RnnlabError(
            f"{tensor_path} does not match {json_path} (sha256 differs): the two halves of the "
            f"trainer state come from different saves, or one is damaged"
        )
    tensors, _ = _parse_safetensors(tensor_bytes, tensor_path)
    return _Decoder(tensors, json_path).decode(document["state"])


def state_paths(dir_or_prefix: PathLike) -> tuple[Path, Path]:
    """The (JSON, safetensors) file pair that `save_state`/`load_state` use for this argument."""
    base = Path(dir_or_prefix)
    if base.is_dir():
        base = base / TRAINER_STATE_NAME
    elif base.suffix in (".json", ".safetensors"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".safetensors")


def _encode(value: Any, path: list[str], tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-ready form of `value`; tensors and arrays are moved into `tensors`."""
    # Order matters: bool is an int, and np.float64 is a float.
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        item = value.item()
        if not isinstance(item, (bool, int, float)):
            raise TypeError(f"cannot save NumPy {value.dtype} scalar at {_describe(path)}")
        return {_NUMPY_SCALAR_TAG: [value.dtype.name, _encode(item, path, tensors)]}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {_FLOAT_TAG: repr(float(value))}
    if isinstance(value, torch.Tensor):
        return {_TENSOR_TAG: _store_tensor(value, path, tensors)}
    if isinstance(value, np.ndarray):
        return {_NDARRAY_TAG: _store_tensor(_array_as_tensor(value, path), path, tensors)}
    if isinstance(value, tuple):
        items = [_encode(item, path + [str(i)], tensors) for i, item in enumerate(value)]
        return {_TUPLE_TAG: items}
    if isinstance(value, list):
        return [_encode(item, path + [str(i)], tensors) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _encode_dict(value, path, tensors)
    raise TypeError(
        f"cannot save a {type(value).__name__} at {_describe(path)}: trainer state may hold only "
        f"dicts, lists, tuples, str, int, float, bool, None, tensors and NumPy values"
    )


def _array_as_tensor(array: np.ndarray, path: list[str]) -> torch.Tensor:
    # A private copy in native byte order: torch cannot wrap big-endian or read-only arrays, and
    # the caller may change the array before the file is written.
    native = np.array(array, dtype=array.dtype.newbyteorder("="), order="C")
    try:
        return torch.from_numpy(native)
    except TypeError as err:
        raise TypeError(f"cannot save NumPy {array.dtype} array at {_describe(path)}") from err


def _encode_dict(value: Mapping, path: list[str], tensors: dict[str, torch.Tensor]) -> Any:
    if all(isinstance(key, str) and not key.startswith("$") for key in value):
        return {key: _encode(item, path + [key], tensors) for key, item in value.items()}
    return {
        _DICT_TAG: [
            [_encode(key, path + ["key"], tensors), _encode(item, path + [str(key)], tensors)]
            for key, item in value.items()
        ]
    }


def _store_tensor(tensor: torch.Tensor, path: list[str], tensors: dict[str, torch.Tensor]) -> str:
    key = "/".join(path) or "root"
    unique_key, counter = key, 1
    while unique_key in tensors:  # Only if str() made two different paths look the same.
        counter += 1
        unique_key = f"{key}~{counter}"
    tensors[unique_key] = tensor
    return unique_key


def _describe(path: list[str]) -> str:
    return "state/" + "/".join(path) if path else "the top level of the state"


class _Decoder:
    """Turns the JSON form back into values; any inconsistency means the file was damaged."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], json_path: Path):
        self.tensors = tensors
        self.json_path = json_path

    def decode(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            return node  # str, int, float, bool or None, exactly as JSON parsed it.
        if not any(key.startswith("$") for key in node):
            return {key: self.decode(item) for key, item in node.items()}
        if len(node) != 1:
            self.fail(f"an object mixes a '$' tag with other keys: {sorted(node)}")
        (tag, body), = node.items()
        return self.decode_tagged(tag, body)

    def decode_tagged(self, tag: str, body: Any) -> Any:
        if tag == _TUPLE_TAG and isinstance(body, list):
            return tuple(self.decode(item) for item in body)
        if tag == _DICT_TAG and isinstance(body, list):
            return self.decode_pairs(body)
        if tag == _FLOAT_TAG and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == _TENSOR_TAG and isinstance(body, str):
            return self.tensor(body)
        if tag == _NDARRAY_TAG and isinstance(body, str):
            return self.tensor(body).numpy()
        if tag == _NUMPY_SCALAR_TAG and isinstance(body, list) and len(body) == 2:
            return self.numpy_scalar(*body)
        self.fail(f"unknown or malformed tag {tag!r}")

    def decode_pairs(self, pairs: list) -> dict:
        result = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                self.fail(f"a {_DICT_TAG} entry is not a [key, value] pair: {pair!r}")
            key = self.decode(pair[0])
            try:
                hash(key)
            except TypeError:
                self.fail(f"a {_DICT_TAG} key is not hashable: {key!r}")
            result[key] = self.decode(pair[1])
        return result

    def tensor(self, key: str) -> torch.Tensor:
        if key not in self.tensors:
            self.fail(f"it refers to tensor {key!r}, which the tensor file does not hold")
        return self.tensors[key]

    def numpy_scalar(self, dtype_name: Any, value: Any) -> np.generic:
        try:
            return np.dtype(dtype_name).type(self.decode(value))
        except (TypeError, ValueError):
            self.fail(f"bad NumPy scalar {dtype_name!r}: {value!r}")

    def fail(self, reason: str):
        raise RnnlabError(f"{self.json_path} is corrupt: {reason}")


def _check_state_document(document: Any, json_path: Path) -> None:
    if not isinstance(document, dict):
        raise RnnlabError(f"{json_path} must hold a JSON object, found {_json_type(document)}")
    _check_format_version(document, json_path, (STATE_FORMAT_VERSION,))
    missing = [key for key in ("tensor_file_sha256", "state") if key not in document]
    if missing:
        raise RnnlabError(f"{json_path} is corrupt: it lacks {', '.join(missing)}")


# --------------------------------------------------------------------------------------------
# Run directory and config.json
# --------------------------------------------------------------------------------------------


def write_config(run_dir: PathLike, config: Mapping[str, Any]) -> Path:
    """Write RUN/config.json atomically, creating RUN if needed; returns the file's path.

    `config` must name its "kind"; "format_version" is added (first) when absent.
    """
    if not isinstance(config.get("kind"), str):
        raise ValueError(f"config needs a 'kind' string, got {config.get('kind')!r}")
    document = {"format_version": config.get("format_version", FORMAT_VERSION)}
    document.update(config)
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RnnlabError(f"cannot create run directory {run_dir}: {_os_reason(err)}") from err
    config_path = run_dir / CONFIG_FILE
    atomic_write_json(config_path, document)
    return config_path


def read_config(
    run_dir: PathLike,
    expected_kind: str | None = None,
    supported_versions: Iterable[int] = (FORMAT_VERSION,),
    *,
    require_weights: bool = True,
) -> dict[str, Any]:
    """Read and check RUN/config.json.

    Raises RnnlabError when RUN does not exist, holds no checkpoint (config.json or, with
    `require_weights`, model.safetensors missing), the JSON is invalid, its format_version is
    not one of `supported_versions`, or its kind is not `expected_kind`.
    """
    run_dir = Path(run_dir)
    _check_run_directory(run_dir, require_weights)
    config_path = run_dir / CONFIG_FILE
    config = _parse_json_file(config_path)
    if not isinstance(config, dict):
        raise RnnlabError(f"{config_path} must hold a JSON object, found {_json_type(config)}")
    _check_format_version(config, config_path, tuple(supported_versions))
    _check_kind(config, config_path, expected_kind)
    return config


def _check_run_directory(run_dir: Path, require_weights: bool) -> None:
    if not run_dir.exists():
        raise RnnlabError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise RnnlabError(f"{run_dir} is not a run directory (it is a file)")
    needed = [CONFIG_FILE] + ([WEIGHTS_FILE] if require_weights else [])
    missing = [name for name in needed if not (run_dir / name).is_file()]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise RnnlabError(
            f"{run_dir} holds no checkpoint: {' and '.join(missing)} {verb} missing"
        )


def _parse_json_file(path: Path) -> Any:
    data = _read_bytes(path, "file")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RnnlabError(f"{path} is not valid UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise RnnlabError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from err


def _check_format_version(document: dict, path: Path, supported: tuple[int, ...]) -> None:
    supported_text = ", ".join(str(version) for version in supported)
    if "format_version" not in document:
        raise RnnlabError(f"{path} has no format_version (this rnnlab reads {supported_text})")
    version = document["format_version"]
    # Exactly int: JSON `true` and `1.0` compare equal to 1 in Python but are not versions.
    if type(version) is not int or version not in supported:
        raise RnnlabError(
            f"{path} has format_version {json.dumps(version)}, but this rnnlab reads "
            f"format_version {supported_text} only"
        )


def _check_kind(config: dict, path: Path, expected_kind: str | None) -> None:
    kind = config.get("kind")
    if not isinstance(kind, str):
        raise RnnlabError(f"{path} has no 'kind' string naming the model type")
    if expected_kind is not None and kind != expected_kind:
        raise RnnlabError(
            f"{path} is a {kind!r} checkpoint, but a {expected_kind!r} checkpoint was expected"
        )


def _json_type(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)
