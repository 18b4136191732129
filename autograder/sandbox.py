"""The sandbox a grading kernel runs in: bubblewrap, no daemon, no root needed.

A submission's kernel sees only what this module mounts into its sandbox:

- read-only: the system's ``/usr`` (with the ``/lib``, ``/bin`` links of a merged-``/usr`` system), a short list
  of files from ``/etc`` that programs need to start (no ``/etc/shadow``), the Python installation and the
  virtual environment, the ``course`` package, the classifier weights of ``course.metrics``, the public data
  folders (``$GAN_COURSE_DATA``, the Keras download cache) and the answer *inputs* of its own assignment;
- read-write: its working folder (``workdir``; with ``workdir_mb`` a tmpfs of that size at the same path, filled
  at start from a read-only bind of the scratch copy of the one submission, so nothing it writes there reaches
  the host's disk; without it a bind of the scratch copy), and the channel folder that holds the kernel's ZMQ
  sockets (IPC transport: with ``--unshare-net`` there is no network at all, not even loopback), where
  ``RLIMIT_FSIZE`` caps each file it writes;
- ``/tmp`` and ``$HOME`` are private tmpfs folders (``tmp_mb`` caps their size), ``/proc`` is its own PID
  namespace's.

Memory (tmpfs pages included) and processes are capped by the submission's cgroup (``autograder.caps``) where
the machine has one; ``START_KERNEL`` sets the rlimits that apply inside the sandbox either way.

Not mounted, so not there: the repository (``source/`` with the reference solutions and hidden tests),
``submitted/`` (other students), the output folder and gradebook, the grader's job and result files, the
instructor's home folder and the hidden expected values. The kernel runs in new user, PID, network, IPC and
UTS namespaces with every capability dropped, in a session of its own (no terminal injection), and dies with
the process that started it: when the grading worker stops it, the namespace's init dies and the kernel takes
every process of the namespace with it, detached or not.

The trusted side talks to the kernel only through the Jupyter protocol on those sockets (signed with a key
the kernel is given in its connection file); interrupts are a SIGINT to the kernel process itself, found from
outside (a signal to ``bwrap``'s process group does not reach it).
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

import course
from autograder.caps import SubmissionGroup

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`) "
    "and make sure unprivileged user namespaces are allowed (`sysctl kernel.unprivileged_userns_clone=1`, or on "
    "Ubuntu 24.04+ `sysctl kernel.apparmor_restrict_unprivileged_userns=0`); or grade with --unsafe-no-sandbox, "
    "which marks every result as graded without a sandbox"
)

# Files of /etc that the interpreter, TensorFlow and matplotlib read at start; everything else stays hidden.
ETC_FILES = ("passwd", "group", "nsswitch.conf", "hosts", "host.conf", "resolv.conf", "localtime", "timezone",
             "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "ssl", "ca-certificates",
             "mime.types", "os-release", "matplotlibrc")
SANDBOX_HOME = "/tmp/home"

# Environment of the kernel: nothing of the grader's own environment leaks in, except these names.
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "TF_CPP_MIN_LOG_LEVEL", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
              "OMP_NUM_THREADS", "MPLBACKEND", "NBGRADER_EXECUTION", "GAN_COURSE_DATA", "GAN_COURSE_OFFLINE",
              "PYTHONUNBUFFERED", "PYTHONHASHSEED", "GAN_COURSE_ANSWERS")


SUBMISSION_COPY = "/run/submission"  # the scratch copy, read-only, that a sized working folder is filled from

# Run inside the sandbox before the kernel: fill the working folder, set the rlimits that only bind in here
# (RLIMIT_NPROC counts in the sandbox's own user namespace; it never binds root), then become the kernel.
START_KERNEL = ("import os, resource, shutil, sys\n"
                "end = sys.argv.index('--')\n"
                "source, target, processes, file_bytes = sys.argv[1:end]\n"
                "if source:\n"
                "    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)\n"
                "if int(processes) and os.getuid() != 0:\n"
                "    resource.setrlimit(resource.RLIMIT_NPROC, (int(processes), int(processes)))\n"
                "if int(file_bytes):\n"
                "    resource.setrlimit(resource.RLIMIT_FSIZE, (int(file_bytes), int(file_bytes)))\n"
                "os.chdir(target)\n"
                "os.execvp(sys.argv[end + 1], sys.argv[end + 1:])\n")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """Why a sandbox cannot be started here, or None when it can (tried once per process)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}"
    probe = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "true"]
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not start ({error}): {INSTALL_HINT}"
    if run.returncode != 0:
        return f"bubblewrap cannot create a sandbox here ({run.stderr.strip()[:200]}): {INSTALL_HINT}"
    return None


def require_sandbox() -> None:
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(problem)


@dataclass(frozen=True)
class Sandbox:
    """What one grading kernel may see (see the module docstring)."""

    workdir: Path  # read-write scratch copy of the submission; the kernel's working folder
    channel_dir: Path  # read-write: ZMQ IPC sockets and the connection file
    read_only: tuple[Path, ...] = field(default_factory=tuple)  # extra read-only mounts (answer inputs)
    tmp_mb: int = 0  # size of the private /tmp (0: the tmpfs default, half the RAM)
    workdir_mb: int = 0  # size of the working folder's tmpfs (0: a writable bind of the scratch copy)
    max_processes: int = 0  # RLIMIT_NPROC inside the sandbox (binds only a user other than root)
    file_mb: int = 0  # RLIMIT_FSIZE: the largest file the kernel may write (0: no cap)

    def mounts(self) -> list[str]:
        args: list[str] = []
        for name in ("lib", "lib64", "lib32", "bin", "sbin"):
            path = Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ETC_FILES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        args += ["--proc", "/proc", "--dev", "/dev", *_size(self.tmp_mb), "--tmpfs", "/tmp", "--dir", SANDBOX_HOME]
        # After the tmpfs on /tmp, which would hide anything mounted below it earlier.
        for path in _python_roots() + _public_data() + list(self.read_only):
            args += ["--ro-bind", str(path), str(path)]
        keras_datasets = Path.home() / ".keras" / "datasets"
        if keras_datasets.is_dir():  # public downloads the instructor already has, read-only
            args += ["--ro-bind", str(keras_datasets), f"{SANDBOX_HOME}/.keras/datasets"]
        if self.workdir_mb:
            args += ["--ro-bind", str(self.workdir), SUBMISSION_COPY,
                     *_size(self.workdir_mb), "--tmpfs", str(self.workdir)]
        else:
            args += ["--bind", str(self.workdir), str(self.workdir)]
        args += ["--bind", str(self.channel_dir), str(self.channel_dir)]
        return args

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped in bubblewrap."""
        return [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
                "--cap-drop", "ALL", "--hostname", "sandbox", *self.mounts(),
                # ipykernel exits when its parent's pid (from outside the PID namespace) is not its parent;
                # --die-with-parent does that job here.
                "--unsetenv", "JPY_PARENT_PID",
                "--chdir", "/", "--", *self.start(argv)]

    def start(self, argv: list[str]) -> list[str]:
        """``argv`` behind START_KERNEL, which runs first inside the sandbox."""
        return [sys.executable, "-I", "-S", "-c", START_KERNEL, SUBMISSION_COPY if self.workdir_mb else "",
                str(self.workdir), str(self.max_processes), str(self.file_mb * 1024 * 1024), "--", *argv]


def _size(mb: int) -> list[str]:
    """bubblewrap's size of the next tmpfs (0: no size given)."""
    return ["--size", str(mb * 1024 * 1024)] if mb else []


def _python_roots() -> list[Path]:
    """The interpreter, the environment and the course package (an editable install points into the repo)."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(course.__file__).resolve().parent}
    executable = Path(sys.executable).resolve()
    if not any(_inside(executable, root) for root in roots):
        roots.add(executable.parent)
    # Nested roots (a venv inside the base prefix) are mounted once, by their outermost folder.
    return sorted(r for r in roots if not any(r != o and _inside(r, o) for o in roots))


def _public_data() -> list[Path]:
    """Folders a notebook may read that hold nothing private: dataset files and the classifier weights."""
    from course import metrics

    paths = [metrics.weights_path(dataset) for dataset in metrics.DATASETS]
    if os.environ.get("GAN_COURSE_DATA"):
        paths.append(Path(os.environ["GAN_COURSE_DATA"]))
    return [p.resolve() for p in paths if p.exists()]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def kernel_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: a fixed PATH and HOME, and only the grader's variables named in PASSED_ENV."""
    env = os.environ if env is None else env
    kept = {name: env[name] for name in PASSED_ENV if name in env}
    return {**kept, "HOME": SANDBOX_HOME, "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "MPLCONFIGDIR": f"{SANDBOX_HOME}/.matplotlib", "KERAS_HOME": f"{SANDBOX_HOME}/.keras",
            "JUPYTER_RUNTIME_DIR": f"{SANDBOX_HOME}/.jupyter-runtime", "IPYTHONDIR": f"{SANDBOX_HOME}/.ipython"}


def kernel_manager(*, workdir: Path, channel_dir: Path, sandbox: bool, read_only: tuple[Path, ...] = (),
                   env: dict[str, str], tmp_mb: int = 0, workdir_mb: int = 0, max_processes: int = 0,
                   group: SubmissionGroup | None = None) -> AsyncKernelManager:
    """A kernel manager for one grading kernel: IPC sockets in ``channel_dir``, bubblewrap unless told not to,
    started inside ``group`` (its cgroup) when given.

    ``env`` is the kernel's whole environment (see ``kernel_environment``). The sizes and the RLIMIT_NPROC
    fallback apply only in the sandbox; the group's caps apply either way.
    """
    channel_dir.mkdir(parents=True, exist_ok=True)
    manager = _SandboxedKernelManager(transport="ipc", ip=str(channel_dir / "kernel"),
                                      connection_file=str(channel_dir / "kernel.json"))
    manager.sandbox = Sandbox(workdir=workdir, channel_dir=channel_dir, read_only=tuple(read_only), tmp_mb=tmp_mb,
                              workdir_mb=workdir_mb, max_processes=0 if group is not None else max_processes,
                              file_mb=max(tmp_mb, workdir_mb)) if sandbox else None
    manager.group = group
    if not sandbox:  # no private tmpfs: the kernel's home is a real folder beside its sockets
        home = channel_dir / "home"
        home.mkdir(exist_ok=True)
        env = {key: value.replace(SANDBOX_HOME, str(home)) for key, value in env.items()}
    manager.kernel_env = env
    return manager


class _SandboxedKernelManager(AsyncKernelManager):
    sandbox: Sandbox | None = None
    group: SubmissionGroup | None = None
    kernel_env: dict[str, str] = {}

    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            # Our own spec, not the one found on the grader's path: always this interpreter and ipykernel.
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (grading)", language="python", interrupt_mode="signal")
        return self._kernel_spec

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        command = self.sandbox.command(command) if self.sandbox is not None else command
        return self.group.join_command(command) if self.group is not None else command

    async def _async_interrupt_kernel(self):
        if self.sandbox is None or not self.has_kernel:
            return await super()._async_interrupt_kernel()
        # A signal to bwrap's process group does not reach the kernel (bwrap's own processes are in it too,
        # and the namespace's init passes nothing on): signal the kernel process itself, found from outside.
        for process in self._kernel_process():
            try:
                process.send_signal(signal.SIGINT)
            except psutil.Error:
                pass
        return None

    interrupt_kernel = _async_interrupt_kernel

    def _kernel_process(self) -> list[psutil.Process]:
        """The sandboxed kernel process, found from outside (none when it is gone)."""
        try:
            outer = psutil.Process(self.provisioner.process.pid)
            kernels = [p for p in outer.children(recursive=True) if "ipykernel_launcher" in " ".join(p.cmdline())]
        except (psutil.Error, AttributeError):
            return []
        return kernels[-1:]

    def full_folders(self) -> set[str]:
        """Which of the sandbox's sized folders ("tmp", "workdir") are full now, seen through the kernel's
        ``/proc/PID/root``."""
        if self.sandbox is None:
            return set()
        full = set()
        for process in self._kernel_process():
            for name, path, mb in (("tmp", "/tmp", self.sandbox.tmp_mb),
                                   ("workdir", str(self.sandbox.workdir), self.sandbox.workdir_mb)):
                try:
                    found = os.statvfs(f"/proc/{process.pid}/root{path}")
                except OSError:
                    continue
                if mb and found.f_bavail * found.f_frsize < min(4 * 1024 * 1024, mb * 1024 * 1024 // 20):
                    full.add(name)
        return full

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = dict(self.kernel_env)
        kw.pop("extra_env", None)
        if self.sandbox is not None:
            kw.setdefault("cwd", str(self.sandbox.workdir))
        return await super()._async_pre_start_kernel(**kw)
