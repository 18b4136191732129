"""Grading inputs drawn per submission: every student is graded on answer inputs of their own.

What must hold:

- While grading an assignment that has an answer reference (``autograder/answers/<a>.py``), each submission's
  inputs come from the seed ``HMAC-SHA256(secret, assignment, student id, submission time)``: the secret is a
  file on the instructor's machine (``c.Autograder.grading_secret``, outside the repository, created on first
  use with mode 0600), the submission time is nbgrader's ``timestamp.txt`` (``autograder.term.read_timestamp``).
  A regrade of the same submission draws the same inputs; another student, or a resubmission, draws others.
  So the ``want`` a visible check's feedback shows helps nobody else, nor a later submission.
- The expected values for those inputs come from the NumPy reference (``build_answers(a, seed=...)``) on the
  trusted side, cached per reference code and seed in ``c.Autograder.answers_cache`` (instructor-only).
  The kernel gets only the inputs its code reads (``autograder.submission.prepare_answers``), the judge all of it.
- The secret never leaves this machine: it is in no record, feedback page, output folder or Dask task (a task
  carries the drawn ``SubmissionAnswers``). The record names the seed and what it was drawn from
  (``answers_seed``, ``answers_drawn_for``), so ``build_answers(a, seed=record["answers_seed"])`` reproduces a
  grading's answers without the secret.
- Interactive runs are unchanged: a student's notebook reads the public inputs in ``data/``.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import json
import os
import secrets
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import platformdirs
from traitlets import Unicode, default
from traitlets.config import Config, Configurable

import course.checks
from autograder import answers
from autograder.answers import build_answers, npz_bytes, reference_names
from autograder.paths import REPO_ROOT
from autograder.records import SubmissionAnswers
from autograder.term import read_timestamp

APP_NAME = "gan-course"
SECRET_BYTES = 32
SEED_BITS = 53  # a seed survives any JSON reader (doubles hold 53-bit integers exactly)
VALIDATE_STUDENT = "autograder-validate"  # the pseudo-student `autograder validate` draws inputs for


def default_secret_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "grading-secret"


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path(APP_NAME) / "grading-answers"


class GradingSecretError(ValueError):
    """The grading secret cannot be used as it is (unreadable, malformed, readable by others, in the repo)."""


class GradingInputs(Configurable):
    """Where the instructor keeps the grading secret and the cache of drawn answers: ``c.Autograder.*``."""

    grading_secret = Unicode(
        help="File holding the secret that, with the student id and submission time, seeds each submission's "
        "grading inputs. Created on first use (mode 0600) when absent. Keep it out of the repository and back it "
        "up: a regrade draws the same inputs only with the same secret. Default: "
        "~/.config/gan-course/grading-secret (platformdirs' user config folder).").tag(config=True)
    answers_cache = Unicode(
        help="Folder (instructor-only) caching the expected values drawn per seed, so a regrade does not rerun "
        "the NumPy reference. Safe to delete. Default: ~/.cache/gan-course/grading-answers.").tag(config=True)

    @default("grading_secret")
    def _default_grading_secret(self) -> str:
        return str(default_secret_path())

    @default("answers_cache")
    def _default_answers_cache(self) -> str:
        return str(default_cache_dir())

    @classmethod
    def section_name(cls) -> str:
        return "Autograder"

    @classmethod
    def from_config(cls, config: Config | None) -> "GradingInputs":
        section = dict((config or Config()).get("Autograder", {}))
        names = cls.class_trait_names(config=True)
        return cls(**{k: v for k, v in section.items() if k in names})

    def drawer(self) -> "AnswerDrawer":
        """Read the secret (creating it if absent) once; the drawer holds it in memory only."""
        return AnswerDrawer(read_or_create_secret(Path(self.grading_secret).expanduser()),
                            cache_dir=Path(self.answers_cache).expanduser())


def read_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``; a new random one written there (mode 0600, folder 0700) when there is none."""
    path = Path(path).absolute()
    if path.resolve().is_relative_to(REPO_ROOT):
        raise GradingSecretError(f"the grading secret {path} is inside the course repository ({REPO_ROOT}), where "
                                 "it could be committed: set c.Autograder.grading_secret to a path outside it")
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: two graders starting at once never
        # read a half-written secret, and the second one keeps the first one's secret.
        handle, tmp = tempfile.mkstemp(prefix=".grading-secret-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(SECRET_BYTES) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise GradingSecretError(f"the grading secret {path} is readable by others (mode {mode:04o}): "
                                 f"run `chmod 600 {path}`")
    text = path.read_text(errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < SECRET_BYTES:
        raise GradingSecretError(f"the grading secret {path} is not {2 * SECRET_BYTES} or more hex digits: restore "
                                 "it from your backup, or delete it to have a new one made (gradings drawn with "
                                 "the old one can then not be redrawn)")
    return secret


def reference_digest() -> str:
    """sha256 of the code the expected values come from (the references and the ``course`` helpers they use):
    a cached answer is reused only while that code is unchanged."""
    files = {}
    for name, root in (("autograder.answers", Path(answers.__file__).parent),
                       ("course", Path(course.checks.__file__).parent)):
        for path in sorted(root.rglob("*.py")):
            files[f"{name}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "big") + files[name])
    return digest.hexdigest()


class AnswerDrawer:
    """Draws one submission's answers: seed from the secret, values from the reference, through the cache."""

    def __init__(self, secret: bytes, *, cache_dir: Path):
        self._secret = secret
        self.cache_dir = Path(cache_dir)
        # Names which secret drew a grading without revealing it (the secret is 256 random bits).
        self.secret_fingerprint = hmac.new(secret, b"fingerprint", hashlib.sha256).hexdigest()[:16]
        self._reference = reference_digest()

    def __repr__(self) -> str:  # never the secret
        return f"AnswerDrawer(secret {self.secret_fingerprint}, cache {self.cache_dir})"

    def seed(self, assignment: str, student_id: str, timestamp: datetime.datetime | None) -> int:
        message = json.dumps({"assignment": assignment, "student_id": student_id,
                              "timestamp": _timestamp_text(timestamp)}, sort_keys=True).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)

    def draw(self, assignment: str, student_id: str, timestamp: datetime.datetime | None) -> SubmissionAnswers:
        seed = self.seed(assignment, student_id, timestamp)
        drawn_for = {"assignment": assignment, "student_id": student_id, "timestamp": _timestamp_text(timestamp),
                     "secret_fingerprint": self.secret_fingerprint, "reference_digest": self._reference[:16]}
        return SubmissionAnswers(assignment=assignment, seed=seed, npz=self.answers_npz(assignment, seed),
                                 drawn_for=drawn_for)

    def for_submission(self, submission) -> SubmissionAnswers | None:
        """The answers ``submission`` (``autograder.submission.Submission``) is graded with; None when its assignment
        has no reference (then the answer files in ``data/`` and ``autograder/hidden/`` are used)."""
        if submission.assignment not in reference_names():
            return None
        timestamp, _ = read_timestamp(submission.folder, trusted_root=submission.submitted_dir)
        return self.draw(submission.assignment, submission.student_id, timestamp)

    def cache_path(self, assignment: str, seed: int) -> Path:
        return self.cache_dir / assignment / self._reference[:16] / f"{seed}.npz"

    def answers_npz(self, assignment: str, seed: int) -> bytes:
        """``build_answers(assignment, seed)`` as an ``.npz``, from the cache when it holds it."""
        path = self.cache_path(assignment, seed)
        try:
            data = path.read_bytes()
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                archive.files  # a truncated or foreign file fails here and is rebuilt below
            return data
        except (OSError, ValueError, zipfile.BadZipFile):
            pass
        data = npz_bytes(build_answers(assignment, seed=seed))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{seed}-", suffix=".npz", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)  # readers see the whole file or none
        return data


def _timestamp_text(timestamp: datetime.datetime | None) -> str | None:
    return timestamp.isoformat() if timestamp is not None else None

