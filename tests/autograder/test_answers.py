"""`autograder answers`: writing, checking, and the errors it gives."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.answers import (AnswerFiles, answer_sets, build_answers, compare_answers, hidden_keys, is_input,
                                key_usage, npz_bytes, read_npz, reference_names, write_answers)


def test_every_reference_is_deterministic_and_numpy_only():
    for name in reference_names():
        first, second = build_answers(name), build_answers(name)
        assert first.keys() == second.keys() and first
        for key in first:
            np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.parametrize("name", reference_names())
def test_references_use_neither_tensorflow_nor_notebooks(name):
    """Independence: building the answers loads no TensorFlow, Keras or notebook machinery."""
    import subprocess
    import sys

    probe = (f"import sys; from autograder.answers import build_answers; build_answers({name!r}); "
             "bad = sorted(m for m in ('tensorflow', 'keras', 'nbformat', 'nbclient') if m in sys.modules); "
             "print(','.join(bad))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


def test_check_reports_each_difference(tmp_path):
    name = reference_names()[0]
    assert write_answers(assignments=[name], data_dir=tmp_path, hidden_dir=tmp_path / "hidden") == []
    assert write_answers(assignments=[name], data_dir=tmp_path, hidden_dir=tmp_path / "hidden", check=True) == []
    answers = build_answers(name)
    key = sorted(k for k in answers if np.issubdtype(answers[k].dtype, np.floating))[0]
    changed = dict(answers)
    changed[key] = answers[key] + 1.0
    del changed[sorted(answers)[-1]]
    changed["extra_key"] = np.zeros(2)
    np.savez(tmp_path / "changed.npz", **changed)
    problems = compare_answers(answers, tmp_path / "changed.npz")
    assert any(p.startswith(f"{key}: values differ") for p in problems)
    assert f"{sorted(answers)[-1]}: missing from changed.npz" in problems
    assert "extra_key: in changed.npz but not produced" in problems
    assert compare_answers(answers, tmp_path / "absent.npz") == [f"{tmp_path / 'absent.npz'} is missing"]


def test_unknown_assignment_is_named():
    with pytest.raises(KeyError, match="no answer reference for 'nope'"):
        build_answers("nope")


def test_files_are_byte_stable_and_left_untouched_when_values_agree(tmp_path):
    name = reference_names()[0]
    write_answers(assignments=[name], data_dir=tmp_path, hidden_dir=tmp_path / "hidden")
    public = AnswerFiles.of(name, data_dir=tmp_path, hidden_dir=tmp_path / "hidden").public
    first = public.read_bytes()
    assert npz_bytes(read_npz(public)) == first  # the bytes depend on the values only
    # Another machine's BLAS: the last bits differ. The committed file must stay as it is.
    arrays = read_npz(public)
    key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size)
    arrays[key] = np.nextafter(arrays[key], np.inf)  # one unit in the last place
    public.write_bytes(npz_bytes(arrays))
    nudged = public.read_bytes()
    write_answers(assignments=[name], data_dir=tmp_path, hidden_dir=tmp_path / "hidden")
    assert public.read_bytes() == nudged
    # A real change is written.
    arrays[key] = arrays[key] + 1.0
    public.write_bytes(npz_bytes(arrays))
    write_answers(assignments=[name], data_dir=tmp_path, hidden_dir=tmp_path / "hidden")
    assert public.read_bytes() == first


@pytest.mark.parametrize("name", reference_names())
def test_public_file_holds_no_hidden_expected_value(name):
    sets = answer_sets(name)
    assert not (sets["public"].keys() & hidden_keys(name))
    assert sets["hidden"].keys() == hidden_keys(name)
    committed = read_npz(AnswerFiles.of(name).public)
    assert not (committed.keys() & hidden_keys(name))


@pytest.mark.parametrize("name", reference_names())
def test_another_seed_has_fresh_inputs_and_the_same_keys(name):
    """The grader draws each submission's inputs with a seed of its own (``autograder.inputs``)."""
    sets = answer_sets(name)
    grading, public = build_answers(name, seed=90001), {**sets["public"], **sets["hidden"]}
    assert grading.keys() == public.keys()
    changed = [k for k in grading if is_input(k) and grading[k].dtype.kind == "f"
               and not np.array_equal(grading[k], public[k])]
    assert changed, "another seed's float inputs are all the public ones"
    for key in grading:
        assert grading[key].shape == public[key].shape, key


@pytest.mark.parametrize("name", reference_names())
def test_grading_kernel_gets_the_inputs_its_code_reads_and_no_hidden_expected_value(name, tmp_path):
    """While grading, the kernel's answer file holds what kernel code reads of the answers drawn for the submission
    (by name or through an f-string such as ``answers[f"{case}_seed"]``) and none of the expected values only the
    judge may see; the judge reads all of the drawn answers."""
    from autograder.grade import prepare_answers
    from autograder.inputs import GradingInputs
    from autograder.paths import DATA_DIR, HIDDEN_DIR

    drawn = GradingInputs().drawer().draw(name, "student", None)
    kernel_dir, judge_files = prepare_answers(name, answers_dir=DATA_DIR, hidden_dir=HIDDEN_DIR, dest=tmp_path,
                                              answers=drawn)
    kernel = read_npz(kernel_dir / f"{name}.npz")
    full = build_answers(name, seed=drawn.seed)
    usage = key_usage(name)
    assert kernel and set(kernel) <= set(full)
    assert not set(kernel) & hidden_keys(name)
    assert all(usage.kernel_reads(key) for key in kernel)
    assert usage.kernel & set(full) - hidden_keys(name) <= set(kernel)
    for key in kernel:  # drawn for this submission: not the public inputs
        np.testing.assert_array_equal(kernel[key], full[key])
    assert [Path(f).parent for f in judge_files] == [tmp_path / "judge"]
    assert read_npz(Path(judge_files[0])).keys() == full.keys()


def test_f_string_and_testkit_keys_reach_the_kernel_but_never_an_expected_value(tmp_path):
    from autograder.grade import prepare_answers
    from autograder.paths import DATA_DIR, HIDDEN_DIR

    from autograder.inputs import GradingInputs

    drawn = GradingInputs().drawer().draw("keras_model_gan", "student", None)
    kernel_dir, _ = prepare_answers("keras_model_gan", answers_dir=DATA_DIR, hidden_dir=HIDDEN_DIR, dest=tmp_path,
                                    answers=drawn)
    kernel = read_npz(kernel_dir / "keras_model_gan.npz")
    assert {"dense_generator_seed", "dense_generator_x", "cond_conv_discriminator_c"} <= set(kernel)
    assert {"run_noise", "run_real", "cond_step_classes"} <= set(kernel)  # read by course/testkit/keras_model_gan.py
    assert not {k for k in kernel if k.endswith("_true")}
