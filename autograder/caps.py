"""Resource caps of one submission's kernel: a cgroup of its own where the machine lets us make one.

What must hold: every process a submission's kernel starts (threads included) is in one group whose memory
(resident pages *and* the pages of its tmpfs files: the sandbox's ``/tmp`` and working folder) and number of
processes are capped (``c.Autograder.memory_mb``, ``c.Autograder.max_processes``), so that two hostile
submissions graded side by side cannot take the machine's memory or process table from the rest of the class.
The group is made by the parent (``submission.run_notebook``) before the worker starts, the kernel enters it before
its sandbox is set up (``join_command``: nothing of the student's runs outside it) and the parent kills whatever
is left in it and removes it after the notebook, also when the worker was killed; groups left by a grader that
was itself killed are removed the next time caps are detected.

Which mechanism is used is detected once per process (``resource_control``):

- cgroup v2 (``/sys/fs/cgroup`` is a cgroup2 mount and our own group can have children with the ``memory``
  and ``pids`` controllers): ``memory.max`` (+ ``memory.swap.max`` 0) and ``pids.max``;
- cgroup v1 (``memory`` and ``pids`` hierarchies mounted and writable, e.g. as root without systemd):
  ``memory.limit_in_bytes`` (+ ``memory.memsw.limit_in_bytes`` where swap accounting is on) and ``pids.max``;
- neither: rlimits only (``sandbox.START_KERNEL``): ``RLIMIT_AS`` per process, ``RLIMIT_NPROC`` inside the
  sandbox's own user namespace (it does not bind root, so as root there is then no process cap), and the
  tmpfs sizes; the record's ``caps`` says which.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_PREFIX = "gan-course-"
CONTROLLERS = ("memory", "pids")

# Enters the groups whose ``cgroup.procs`` files come before "--", then becomes the command after it; run
# outside the sandbox, so the sandbox and everything in it start inside the groups.
JOIN_GROUPS = ("import os, sys\n"
               "end = sys.argv.index('--')\n"
               "for procs in sys.argv[1:end]:\n"
               "    with open(procs, 'w') as handle:\n"
               "        handle.write(str(os.getpid()))\n"
               "os.execvp(sys.argv[end + 1], sys.argv[end + 1:])\n")


@dataclass(frozen=True)
class Control:
    """What this machine lets us cap: ``version`` 2 or 1 with the folders new groups go under, or 0 (rlimits)."""

    version: int
    parents: dict[str, str]  # controller -> folder of our own group ("unified" for v2)
    reason: str = ""  # why no cgroup (version 0)

    def describe(self) -> str:
        if self.version == 2:
            return "cgroup v2 (memory.max, pids.max)"
        if self.version == 1:
            return "cgroup v1 (memory.limit_in_bytes, pids.max)"
        return f"rlimits only ({self.reason})"


def _own_groups() -> dict[str, str]:
    """controller (or "" for v2) -> our group's path inside its hierarchy, from /proc/self/cgroup."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def _mounts() -> dict[str, tuple[str, str]]:
    """controller ("" for cgroup2) -> (mount point, root of the hierarchy the mount shows), from mountinfo."""
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        dash = fields.index("-")
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        root, point = fields[3], fields[4]
        if fstype == "cgroup2":
            found.setdefault("", (point, root))
        elif fstype == "cgroup":
            for name in CONTROLLERS:
                if name in options:
                    found.setdefault(name, (point, root))
    return found


def _group_folder(mount: tuple[str, str], path: str) -> Path:
    point, root = mount
    relative = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    return Path(point) / ("" if relative == "." else relative)


def _try_group(parent: Path, files: tuple[str, ...]) -> str | None:
    """Make and remove a probe group under ``parent``; None when it has ``files`` and they can be written."""
    probe = parent / f"{GROUP_PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError as error:
        return f"cannot create a group under {parent}: {error.strerror}"
    try:
        for name in files:
            if not (probe / name).is_file():
                return f"{parent} has no {name}"
            (probe / name).write_text((probe / name).read_text().split()[0] if name != "pids.max" else "max")
        return None
    except OSError as error:
        return f"cannot set limits in {probe}: {error.strerror}"
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass


_detecting = threading.Lock()


def resource_control() -> Control:
    """What this machine lets us cap, tried once per process (and stale groups of dead graders removed).

    Parallel graders (``--jobs``) ask at once: one of them tries, the others wait for its answer.
    """
    with _detecting:
        return _detect()


resource_control.cache_clear = lambda: _detect.cache_clear()


@functools.lru_cache(maxsize=1)
def _detect() -> Control:
    if not sys.platform.startswith("linux"):
        return Control(0, {}, "not Linux")
    try:
        mounts, own = _mounts(), _own_groups()
    except (OSError, ValueError) as error:
        return Control(0, {}, f"cannot read the cgroups of this process: {error}")
    problems = []
    if "" in mounts and Path(mounts[""][0]) == CGROUP_ROOT:  # the unified hierarchy alone
        parent = _group_folder(mounts[""], own.get("", "/"))
        problem = _try_group(parent, ("memory.max", "pids.max"))
        if problem and (parent / "cgroup.subtree_control").is_file():
            try:  # possible only when our group holds no process itself (a delegated, empty subtree)
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
                problem = _try_group(parent, ("memory.max", "pids.max"))
            except OSError as error:
                problem = f"{problem}; cannot enable memory and pids in {parent}: {error.strerror}"
        if problem is None:
            _remove_stale({"unified": str(parent)})
            return Control(2, {"unified": str(parent)})
        problems.append(f"cgroup v2: {problem}")
    if all(name in mounts for name in CONTROLLERS):
        parents = {name: str(_group_folder(mounts[name], own.get(name, "/"))) for name in CONTROLLERS}
        problem = (_try_group(Path(parents["memory"]), ("memory.limit_in_bytes",))
                   or _try_group(Path(parents["pids"]), ("pids.max",)))
        if problem is None:
            _remove_stale(parents)
            return Control(1, parents)
        problems.append(f"cgroup v1: {problem}")
    elif not problems:
        problems.append("no cgroup v2 with memory and pids, and no cgroup v1 memory and pids hierarchies")
    return Control(0, {}, "; ".join(problems))


def _remove_stale(parents: dict[str, str]) -> None:
    """Groups of graders that died without removing them (their processes are gone: the kernels die with their
    workers)."""
    for parent in parents.values():
        for folder in Path(parent).glob(f"{GROUP_PREFIX}*"):
            try:
                owner = int(folder.name[len(GROUP_PREFIX):].split("-")[0])
            except ValueError:
                continue
            if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
                _empty_and_remove(folder)


def _empty_and_remove(folder: Path, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


_counter = iter(range(1, sys.maxsize))


@dataclass(frozen=True)
class SubmissionGroup:
    """The cgroup (one folder per controller on v1) of one notebook's kernel."""

    version: int
    folders: dict[str, str]  # controller -> folder ("unified" for v2)

    @classmethod
    def create(cls, *, memory_mb: int, max_processes: int, control: Control | None = None
               ) -> "SubmissionGroup | None":
        """A new group with these caps (0: none), or None when the machine gives us no cgroups."""
        control = control or resource_control()
        if control.version == 0:
            return None
        name = f"{GROUP_PREFIX}{os.getpid()}-{next(_counter)}"
        group = cls(control.version, {key: str(Path(parent) / name) for key, parent in control.parents.items()})
        for folder in group.folders.values():
            Path(folder).mkdir()
        memory = memory_mb * 1024 * 1024
        try:
            if control.version == 2:
                if memory:
                    group._write("unified", "memory.max", memory)
                    group._write("unified", "memory.swap.max", 0, optional=True)
                if max_processes:
                    group._write("unified", "pids.max", max_processes)
            else:
                if memory:
                    group._write("memory", "memory.limit_in_bytes", memory)
                    group._write("memory", "memory.memsw.limit_in_bytes", memory, optional=True)
                if max_processes:
                    group._write("pids", "pids.max", max_processes)
        except OSError:
            group.remove()
            raise
        return group

    def _write(self, key: str, name: str, value: int, optional: bool = False) -> None:
        path = Path(self.folders[key]) / name
        if optional and not path.exists():
            return
        try:
            path.write_text(str(value))
        except OSError:
            if not optional:
                raise

    def _read_counts(self, key: str, name: str) -> dict[str, int]:
        try:
            lines = (Path(self.folders[key]) / name).read_text().splitlines()
        except (OSError, KeyError):
            return {}
        counts = {}
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                counts[parts[0]] = int(parts[1])
        return counts

    def procs_files(self) -> list[str]:
        return [str(Path(folder) / "cgroup.procs") for folder in self.folders.values()]

    def join_command(self, argv: list[str]) -> list[str]:
        """``argv`` started inside this group (see JOIN_GROUPS)."""
        return [sys.executable, "-I", "-S", "-c", JOIN_GROUPS, *self.procs_files(), "--", *argv]

    def memory_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this group at its memory cap."""
        if self.version == 2:
            return self._read_counts("unified", "memory.events").get("oom_kill", 0)
        return self._read_counts("memory", "memory.oom_control").get("oom_kill", 0)

    def processes_refused(self) -> int:
        """Process or thread starts refused at the cap."""
        return self._read_counts("unified" if self.version == 2 else "pids", "pids.events").get("max", 0)

    def peak_processes(self) -> int | None:
        """The most processes and threads the group held at once (where the kernel reports it)."""
        try:
            return int((Path(self.folders["unified" if self.version == 2 else "pids"]) / "pids.peak").read_text())
        except (OSError, ValueError, KeyError):
            return None

    def remove(self) -> None:
        """Kill whatever is still in the group and remove it."""
        for folder in self.folders.values():
            _empty_and_remove(Path(folder))

    def to_dict(self) -> dict:
        return {"version": self.version, "folders": dict(self.folders)}

    @classmethod
    def from_dict(cls, data: dict | None) -> "SubmissionGroup | None":
        return cls(int(data["version"]), dict(data["folders"])) if data else None


def describe_caps(limits) -> str:
    """The caps one notebook of a submission ran under here, in words (the record's ``caps``)."""
    control = resource_control()
    parts = []
    if control.version:
        group = [f"memory {limits.memory_mb} MB" if limits.memory_mb else "",
                 f"{limits.max_processes} processes" if limits.max_processes else ""]
        if any(group):
            parts.append(f"{', '.join(p for p in group if p)} by {control.describe()}")
    elif limits.max_processes and limits.sandbox and os.getuid() != 0:
        parts.append(f"{limits.max_processes} processes by RLIMIT_NPROC ({control.reason})")
    else:
        parts.append(f"no memory-in-total or process cap ({control.reason})")
    if limits.memory_mb:
        parts.append(f"address space {limits.memory_mb} MB per process (RLIMIT_AS)")
    if limits.sandbox:
        sizes = [f"/tmp {limits.tmp_mb} MB" if limits.tmp_mb else "",
                 f"working folder {limits.workdir_mb} MB" if limits.workdir_mb else ""]
        if any(sizes):
            parts.append(f"{', '.join(s for s in sizes if s)} (tmpfs)")
    else:
        parts.append("no /tmp or working-folder size caps (no sandbox)")
    return "; ".join(parts)
