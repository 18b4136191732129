"""The kernel's side of grading: hand the values a test cell's probe computed to the trusted judge.

While a notebook is graded, the kernel runs only the *probe* part of each test cell (the code that calls the
student's functions); the grader then runs ``send_values(<names>)``, which publishes those names' values
from the kernel's globals as one ``display_data`` message of type ``MIME_TYPE`` on the Jupyter protocol.
The judge, outside the kernel, decides pass or fail from them. Nothing here decides anything: a submission
that replaces this function can only change what its own code appears to have computed.

Values cross as an ``.npz`` archive (``numpy.load(..., allow_pickle=False)`` on the other side: no code can
travel) plus a JSON skeleton that rebuilds tuples, lists, dicts, numbers, strings and None around the arrays.
"""
from __future__ import annotations

import base64
import io
import numbers
import zipfile

import numpy as np

MIME_TYPE = "application/vnd.gan-course.probe+json"
MAX_BYTES = 64 * 1024 * 1024  # a probe larger than this is refused on both sides


class ProbeError(TypeError):
    """A probe value that cannot cross to the judge."""


def encode(values: dict) -> dict:
    """``{name: value}`` -> a JSON-able payload (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    problems: dict[str, str] = {}
    skeleton = {}
    for name, value in values.items():
        try:
            skeleton[name] = _encode(value, arrays, depth=0)
        except ProbeError as error:
            problems[name] = str(error)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise ProbeError(f"the probe's values take {len(data)} bytes, more than {MAX_BYTES}")
    return {"skeleton": skeleton, "problems": problems, "npz": base64.b64encode(data).decode("ascii")}


def _encode(value, arrays: dict, depth: int):
    if depth > 20:
        raise ProbeError("nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return {"v": value}
    if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
        return {"v": int(value)}
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        return {"f": repr(float(value))}
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [_encode(v, arrays, depth + 1) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ProbeError("a dict with keys that are not strings")
        return {"dict": {k: _encode(v, arrays, depth + 1) for k, v in value.items()}}
    if isinstance(value, np.dtype):
        return {"v": value.name}
    if hasattr(value, "as_numpy_dtype") and isinstance(getattr(value, "name", None), str):  # a tf.DType
        return {"v": value.name}
    if hasattr(value, "as_list") and callable(value.as_list):  # a tf.TensorShape
        try:
            return {"tuple": [_encode(d, arrays, depth + 1) for d in value.as_list()]}
        except ValueError:  # unknown rank
            return {"v": None}
    array = _as_array(value)
    if array is None:
        raise ProbeError(f"a {type(value).__module__}.{type(value).__qualname__} is not plain data: reduce it to "
                         "arrays, numbers or strings in the probe, before the first check")
    key = f"a{len(arrays)}"
    arrays[key] = array
    return {"array": key}


def _as_array(value) -> np.ndarray | None:
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
    elif hasattr(value, "numpy") and callable(value.numpy):  # TensorFlow eager tensors and variables
        try:
            array = np.asarray(value.numpy())
        except Exception:
            return None
    else:
        return None
    if array.dtype.hasobject or array.dtype.kind not in "biufcUSM":
        return None
    return array


def decode(payload: dict) -> tuple[dict, dict[str, str]]:
    """The judge's side of ``encode``: ``({name: value}, {name: why it could not cross})``."""
    data = base64.b64decode(payload["npz"], validate=True)
    if len(data) > MAX_BYTES:
        raise ProbeError(f"the probe's values take {len(data)} bytes, more than {MAX_BYTES}")
    # encode() writes an uncompressed archive; a forged one could deflate a few MB into many GB.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as error:
        raise ProbeError(f"the probe's values are not an archive ({error})") from None
    if unpacked > MAX_BYTES:
        raise ProbeError(f"the probe's values unpack to {unpacked} bytes, more than {MAX_BYTES}")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    values = {str(name): _decode(node, arrays) for name, node in dict(payload["skeleton"]).items()}
    problems = {str(k): str(v) for k, v in dict(payload.get("problems", {})).items()}
    return values, problems


def _decode(node, arrays):
    (kind, content), = dict(node).items()
    if kind == "v":
        if content is not None and not isinstance(content, (bool, int, str)):
            raise ProbeError(f"bad scalar {type(content).__name__}")
        return content
    if kind == "f":
        return float(content)
    if kind in ("tuple", "list"):
        items = [_decode(n, arrays) for n in content]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(k): _decode(n, arrays) for k, n in dict(content).items()}
    if kind == "array":
        return arrays[str(content)]
    raise ProbeError(f"unknown node {kind!r}")


def send_values(names, namespace: dict | None = None) -> None:
    """Publish the named values (from the caller's notebook globals) for the judge."""
    from IPython.display import publish_display_data

    if namespace is None:
        namespace = __import__("__main__").__dict__
    values, missing = {}, []
    for name in names:
        if name in namespace:
            values[name] = namespace[name]
        else:
            missing.append(name)
    payload = encode(values)
    payload["missing"] = missing
    publish_display_data({MIME_TYPE: payload, "text/plain": f"<{len(values)} values sent to the grader>"})
