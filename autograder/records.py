"""Records that cross a process boundary (parent -> worker job, worker -> parent result), and the limits.

The parent writes a ``Job`` as JSON for ``python -m autograder.worker``; the worker writes one
``CheckOutcome`` line per check to its progress file as soon as the judge decided it, and a ``NotebookResult``
at the end. Both files live outside the kernel's sandbox: only the trusted worker writes them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from traitlets import Bool, Int
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader


class Status(str, Enum):
    """How grading one notebook (or submission) ended. The first two carry a score from a full run."""

    GRADED = "graded"
    MISSING_CELLS = "missing_cells"  # graded; some solution cells were absent and count as unanswered
    INVALID = "invalid"  # not a readable notebook
    MISSING = "missing"  # no notebook submitted
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    ERROR = "error"  # a problem of the grader or of the source notebook, not of the student

    def __str__(self) -> str:
        return self.value


GRADED_STATUSES = (Status.GRADED.value, Status.MISSING_CELLS.value)
# The status a submission of several notebooks takes: the first of these that any notebook has.
STATUS_PRECEDENCE = ("invalid", "crashed", "timeout", "missing", "error", "missing_cells")


class Limits(Configurable):
    """Grading limits and the sandbox switch: ``c.Autograder.<name>`` in nbgrader_config.py, or flags."""

    cell_timeout = Int(120, help="Seconds one cell may run before it is interrupted.").tag(config=True)
    submission_timeout = Int(1200, help="Seconds one whole submission may run before its worker is killed."
                             ).tag(config=True)
    memory_mb = Int(8192, help="Memory of one notebook's kernel, in MB (0: no cap). Two caps: each process's "
                    "address space (RLIMIT_AS, also the grading worker's: one oversized allocation fails with "
                    "MemoryError and the kernel goes on), and, where the machine gives us a cgroup "
                    "(autograder.caps), what all the kernel's processes hold together, the pages of its /tmp and "
                    "working-folder files included: past that the kernel is killed and the notebook is crashed."
                    ).tag(config=True)
    sandbox = Bool(True, help="Run each kernel in a bubblewrap sandbox. False (--unsafe-no-sandbox) grades "
                   "without one and marks every result as such.").tag(config=True)
    submission_mb = Int(200, help="Megabytes of regular files one submission's folder may hold; files past it are "
                        "not copied for grading, and each is named in the record (notebooks are taken first)."
                        ).tag(config=True)
    submission_files = Int(2000, help="Files and folders one submission's folder may hold; past it the rest is not "
                           "copied for grading, and the record says so (top-level notebooks are taken first)."
                           ).tag(config=True)
    tmp_mb = Int(1024, help="Size of the sandbox's private /tmp (which holds $HOME), a tmpfs, in MB (0: the tmpfs "
                 "default of half the RAM). Writes past it fail with 'No space left on device'. Needs the sandbox."
                 ).tag(config=True)
    workdir_mb = Int(1024, help="Size of the kernel's writable working folder, in MB: a tmpfs filled with the "
                     "submission's files at start, so nothing the kernel writes there reaches the host's disk (0: "
                     "the scratch copy on the host's disk, uncapped). Also the largest file the kernel may write "
                     "anywhere (RLIMIT_FSIZE, with tmp_mb). Needs the sandbox.").tag(config=True)
    max_processes = Int(512, help="Processes and threads one notebook's kernel may run at once (TensorFlow sizes "
                        "its thread pools by the cores: the gan_basics and dcgan_cifar kernels peaked at 23 on 2 "
                        "cores). Past it new ones are refused. A cgroup's pids.max; without a cgroup RLIMIT_NPROC "
                        "inside the sandbox, which does not bind root (0: no cap).").tag(config=True)
    executed_notebook_mb = Int(64, help="Largest executed notebook (outputs included) the worker hands back for "
                               "nbgrader's autograded/ folder, in MB; outputs past it are dropped as they arrive, "
                               "and a notebook still larger loses its outputs, with a note (0: no cap)."
                               ).tag(config=True)

    @classmethod
    def section_name(cls) -> str:
        return "Autograder"

    @classmethod
    def from_config_file(cls, path: Path, **overrides) -> "Limits":
        """Limits from ``c.Autograder.*`` in ``path`` (defaults where absent), then ``overrides`` not None."""
        config = {}
        if Path(path).is_file():
            loaded = PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()
            config = dict(loaded.get("Autograder", {}))
        limits = cls(**{name: value for name, value in config.items() if name in cls.class_trait_names(config=True)})
        for name, value in overrides.items():
            if value is not None:
                setattr(limits, name, value)
        return limits

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.class_trait_names(config=True)}

    def __repr__(self) -> str:
        return f"Limits({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


@dataclass(frozen=True)
class Job:
    """What the parent asks one worker to grade."""

    assignment: str
    notebook: str  # the source notebook's file name
    source_path: str
    submission_path: str
    workdir: str  # the scratch copy of the submission (the kernel works in a sized tmpfs filled from it)
    channel_dir: str  # the kernel's ZMQ sockets
    kernel_answers_dir: str  # answer inputs the kernel may read (mounted read-only)
    judge_answers: list[str]  # answer files the judge reads, merged in order (never shown to the kernel)
    result_path: str
    progress_path: str
    cell_timeout: int
    memory_mb: int
    sandbox: bool
    submission_mb: int = 200  # ``Limits.submission_mb``: the most of the notebook the worker reads
    tmp_mb: int = 0
    workdir_mb: int = 0
    max_processes: int = 0
    executed_notebook_mb: int = 0
    group: dict | None = None  # the kernel's cgroup (``caps.SubmissionGroup.to_dict``), made by the parent

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> "Job":
        return cls(**json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class CheckOutcome:
    """The judge's verdict on one autograded test cell."""

    passed: bool
    message: str = ""  # the judge's words: for hidden checks never an expected value, never kernel output

    @classmethod
    def from_dict(cls, data: dict) -> "CheckOutcome":
        return cls(passed=bool(data.get("passed")), message=str(data.get("message", "")))


@dataclass
class NotebookResult:
    """What one worker found for one notebook."""

    notebook: str
    status: str = Status.GRADED.value
    message: str = ""
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)  # non-check cells that raised (validate wants none)
    sandboxed: bool = True
    executed: dict | None = None  # the executed notebook (nbformat JSON) for nbgrader's autograded/ folder

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_dict(cls, data: dict) -> "NotebookResult":
        checks = {gid: CheckOutcome.from_dict(c) for gid, c in dict(data.get("checks", {})).items()}
        return cls(notebook=data["notebook"], status=str(data.get("status", "error")),
                   message=str(data.get("message", "")), checks=checks,
                   cell_errors=list(data.get("cell_errors", [])), sandboxed=bool(data.get("sandboxed", True)),
                   executed=data.get("executed"))


# --- Grading on a Dask cluster (``autograder.distributed``): what one task carries to a worker. ---


def bytes_digest(files: dict[str, bytes]) -> str:
    """sha256 over file names and contents, in name order: equal digests mean the same files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "big") + files[name])
    return digest.hexdigest()


@dataclass(frozen=True)
class CourseFiles:
    """The course as one assignment's grading needs it, shipped with every task: the source notebooks and the
    answer files (instructor-only files included: the trusted worker's judge reads them, the kernel never).

    Keys are paths relative to a course root: ``source/<a>/<nb>.ipynb``, ``data/<a>.npz``,
    ``hidden/<a>.npz`` (only the files that exist). An assignment with an answer reference is graded on each
    task's ``SubmissionAnswers`` instead of the answer files.
    """

    assignment: str
    files: dict[str, bytes]
    digest: str  # ``bytes_digest(files)`` as the submitting machine computed it

    def verify(self) -> None:
        found = bytes_digest(self.files)
        if found != self.digest:
            raise ValueError(f"course files of {self.assignment} arrived altered (digest {found[:12]}, "
                             f"sent {self.digest[:12]})")


@dataclass(frozen=True)
class SubmissionFiles:
    """One student's submitted folder (``submitted/<student_id>/<assignment>/``), as relative path -> bytes."""

    student_id: str
    assignment: str
    files: dict[str, bytes]
    notes: tuple[str, ...] = ()  # what was refused or left out when the folder was read (for the record)


@dataclass(frozen=True)
class SubmissionAnswers:
    """The answers one submission is graded with, drawn for it on the submitting machine (``autograder.inputs``):
    the judge reads all of them, the kernel only the inputs its code reads. Never holds the grading secret."""

    assignment: str
    seed: int  # ``autograder.answers.build_answers(assignment, seed=seed)`` gives these answers again
    npz: bytes  # those answers as an ``.npz`` (``autograder.answers.npz_bytes``)
    drawn_for: dict  # what the seed was derived from: assignment, student id, timestamp, secret fingerprint, ...

    def record_fields(self) -> dict:
        """The seed's provenance in the result record (instructor-only; not shown in feedback)."""
        return {"answers_seed": self.seed, "answers_drawn_for": dict(self.drawn_for)}


@dataclass(frozen=True)
class GradingTask:
    """One Dask task: grade one submission with these course files and limits (and its drawn answers)."""

    submission: SubmissionFiles
    course: CourseFiles
    limits: dict  # ``Limits.as_dict()``
    threads_by_host: dict[str, int]  # TensorFlow threads per kernel on each worker host (cores / task slots)
    answers: SubmissionAnswers | None = None  # None: the assignment has no reference; the course's files serve


@dataclass(frozen=True)
class WorkerDescription:
    """What a Dask worker reports before the run (``client.run``): grading refuses workers that differ."""

    address: str
    host: str
    package_version: str
    code_digest: str  # sha256 of the installed autograder and course packages' Python files
    course_digest: str  # the digest the worker computes of the course files it was sent
    python: str
    cpu_count: int
    nthreads: int
    sandbox_problem: str | None  # why a sandbox cannot start there (None: it can)
