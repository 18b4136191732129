"""course.checks (what a student sees) and course.probe (what crosses to the judge)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from course.checks import CheckFailed, check_close, check_equal, check_true, rel_error
from course.probe import MIME_TYPE, ProbeError, decode, encode


def test_a_passing_check_does_not_print_its_failure_text(capsys):
    check_true("two calls of sample_noise differ", True, "the two samples are identical")
    out = capsys.readouterr().out
    assert "identical" not in out and "PASSED" in out


def test_a_failing_check_says_why_once(capsys):
    with pytest.raises(CheckFailed) as failure:
        check_true("two calls differ", False, "the two samples are identical")
    assert capsys.readouterr().out.count("identical") == 1
    assert str(failure.value) == "two calls differ: the two samples are identical"


def test_close_reports_want_got_error_threshold_and_summarises_large_arrays(capsys):
    want = np.arange(1000, dtype=float)
    with pytest.raises(CheckFailed) as failure:
        check_close("big", want + 1.0, want, 1e-6)
    text = str(failure.value)
    assert "want:" in text and "got:" in text and "rel error:" in text and "threshold:" in text
    assert "shape (1000,)" in text and len(text) < 800
    assert "want" not in failure.value.hidden_message()  # hidden checks never show the expected value
    assert "relative error" in failure.value.hidden_message()


def test_equal_and_close_pass_on_equal_values(capsys):
    check_equal("shape", (2, 3), (2, 3))
    check_close("values", [1.0, 2.0], np.array([1.0, 2.0]), 1e-12)
    assert rel_error([1.0], [1.0]) == 0.0


def test_ragged_values_fail_cleanly():
    with pytest.raises(CheckFailed):
        check_equal("ragged", [[1, 2], [3]], [[1, 2], [3, 4]])
    with pytest.raises(CheckFailed):
        check_close("text", "abc", np.zeros(3), 1e-6)


def test_probe_values_round_trip_as_plain_data():
    values = {"array": np.arange(6, dtype=np.float32).reshape(2, 3), "number": 3, "real": 0.1, "flag": True,
              "none": None, "text": "tanh", "nested": {"shapes": [(2, 3), (4,)], "scalar": np.float64(2.5)}}
    payload = json.loads(json.dumps(encode(values)))  # it crosses as JSON
    decoded, problems = decode(payload)
    assert problems == {}
    np.testing.assert_array_equal(decoded["array"], values["array"])
    assert decoded["array"].dtype == np.float32
    assert (decoded["number"], decoded["real"], decoded["flag"], decoded["none"], decoded["text"]) == (
        3, 0.1, True, None, "tanh")
    assert decoded["nested"]["shapes"] == [(2, 3), (4,)]
    assert float(decoded["nested"]["scalar"]) == 2.5


def test_objects_do_not_cross_and_say_why():
    payload = encode({"model": object(), "fine": 1})
    decoded, problems = decode(payload)
    assert decoded == {"fine": 1}
    assert "not plain data" in problems["model"]


def test_a_compressed_bomb_is_refused_before_it_is_unpacked():
    import base64
    import io
    import zipfile

    from course.probe import MAX_BYTES

    member = io.BytesIO()
    np.lib.format.write_array(member, np.zeros(MAX_BYTES // 8 + 1024))  # just over the limit once unpacked
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a0.npy", member.getvalue())
    assert len(archive.getvalue()) < MAX_BYTES // 100  # small on the wire
    payload = {"skeleton": {"x": {"array": "a0"}}, "npz": base64.b64encode(archive.getvalue()).decode()}
    with pytest.raises(ProbeError, match="unpack to"):
        decode(payload)


def test_decoding_never_runs_pickled_code():
    import base64
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a0.npy", buffer.getvalue())
    payload = {"skeleton": {"x": {"array": "a0"}}, "npz": base64.b64encode(archive.getvalue()).decode()}
    with pytest.raises(ValueError):  # numpy refuses object arrays without allow_pickle
        decode(payload)
    assert MIME_TYPE.startswith("application/")
    with pytest.raises((ProbeError, ValueError)):
        decode({"skeleton": {"x": {"eval": "1"}}, "npz": payload["npz"]})
