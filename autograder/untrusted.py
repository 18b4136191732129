"""Reading what a student handed in, on the trusted side (the grading parent, its worker, the Dask client).

What must hold, for every read of student material (the student's and assignment's folders below
``submitted/``, every file in them, the notebook, ``timestamp.txt``, the bytes a Dask task ships):

- **Only regular files cross.** A symbolic link, a device, a named pipe or a socket is refused, never followed
  or opened, at every level: the student's folder, the assignment folder, any folder inside and every file.
  Each level is opened relative to the one above it with ``O_NOFOLLOW`` (``openat``), checked with ``lstat``
  before and ``fstat`` after opening (``O_NONBLOCK``: a pipe swapped in between cannot block), so a link
  anywhere in the path is refused, not resolved. Folders are listed with ``os.scandir`` on the opened folder.
- **Bounded.** A submission's folder is copied or shipped up to ``Limits.submission_mb`` megabytes and
  ``Limits.submission_files`` files and folders (top-level notebooks first); a notebook is read up to the same
  size, ``timestamp.txt`` up to ``TIMESTAMP_MAX_BYTES``. A file that grows while it is read is cut at the bound
  and refused.
- **Named, never echoed.** A refused file is named in a note for the record's message ("refused timestamp.txt:
  a symbolic link (only regular files are read)"); the rest of the submission is graded. No note quotes what a
  file says; a student's file names are shown with unprintable characters escaped.
- **Text that cannot be written is replaced, not fatal.** Bytes that are not UTF-8 and lone surrogates
  (``"\\ud800"`` is valid JSON) become U+FFFD, with a note, so that every output of the record can be written.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.notebook import parse_notebook, replace_lone_surrogates  # noqa: F401 (used by grade)

TIMESTAMP_MAX_BYTES = 256  # nbgrader collect's timestamp.txt is one line of ~30 characters
SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints"})  # Jupyter's autosaves: never graded, never copied
MAX_NAMED = 10  # refused files named one by one in a record's message; past it, a count
ONLY_REGULAR = "(only regular files are read)"
MB = 1024 * 1024
_CHUNK = 1024 * 1024

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Refused(Exception):
    """A student's file or folder that is not read: what it is and why (never what it holds)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"refused {name}: {reason}")
        self.name, self.reason = name, reason


def what_it_is(mode: int) -> str:
    """Why a file of this ``st_mode`` is refused."""
    if stat.S_ISLNK(mode):
        return f"a symbolic link {ONLY_REGULAR}"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"a device {ONLY_REGULAR}"
    if stat.S_ISFIFO(mode):
        return f"a named pipe (FIFO) {ONLY_REGULAR}"
    if stat.S_ISSOCK(mode):
        return f"a socket {ONLY_REGULAR}"
    if stat.S_ISDIR(mode):
        return "a folder where a file was expected"
    return f"not a regular file {ONLY_REGULAR}"


def shown(name: str | os.PathLike) -> str:
    """A student's file name as a record may show it: unprintable characters and lone surrogates (bytes that
    are not UTF-8) escaped, at most 200 characters."""
    text = str(name)
    text = "".join(c if c.isprintable() and not _LONE_SURROGATE.match(c) else f"\\x{{{ord(c):x}}}" for c in text)
    return text if len(text) <= 200 else text[:197] + "..."


def _open_entry(dir_fd: int, name: str, *, directory: bool, display: str) -> tuple[int, os.stat_result]:
    """Open ``name`` in the folder ``dir_fd`` without following a link; a folder or a regular file only.

    Raises ``Refused`` for anything else, ``FileNotFoundError`` when there is nothing of that name.
    """
    before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    wanted = stat.S_ISDIR if directory else stat.S_ISREG
    if not wanted(before.st_mode):  # refused before opening: opening a device or a pipe can act or block
        raise Refused(display, what_it_is(before.st_mode) if not stat.S_ISREG(before.st_mode)
                      else "a file where a folder was expected")
    try:
        fd = os.open(name, _DIR_FLAGS if directory else _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):  # swapped for a link or a socket meanwhile
            raise Refused(display, f"changed while it was read {ONLY_REGULAR}") from None
        raise
    after = os.fstat(fd)
    if not wanted(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise Refused(display, f"changed while it was read {ONLY_REGULAR}")
    return fd, after


def _parts(relative: str | os.PathLike) -> tuple[str, ...]:
    parts = tuple(p for p in PurePosixPath(os.fspath(relative)).parts if p not in ("", "."))
    if any(p in ("..", "/") for p in parts):
        raise ValueError(f"{relative!r} is not a path inside its folder")
    return parts


@contextmanager
def open_folder(root: Path, relative: str | os.PathLike = "."):
    """A file descriptor of the folder ``root/relative``: ``root`` is the instructor's (followed as given),
    each part of ``relative`` is the student's and is opened without following a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        done: list[str] = []
        for part in _parts(relative):
            done.append(part)
            inner, _ = _open_entry(fd, part, directory=True, display=shown("/".join(done)))
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes:
    """At most ``limit + 1`` bytes (one more tells the file was larger)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_bytes(root: Path, relative: str | os.PathLike, *, max_bytes: int) -> bytes:
    """The bytes of the regular file ``root/relative`` (every part of ``relative`` no-follow), at most
    ``max_bytes``; raises ``Refused`` (a link, a device, a pipe, too large) or ``FileNotFoundError``."""
    parts = _parts(relative)
    if not parts:
        raise ValueError("read_bytes needs a file name")
    display = shown("/".join(parts))
    with open_folder(root, PurePosixPath(*parts[:-1]) if len(parts) > 1 else ".") as folder:
        fd, info = _open_entry(folder, parts[-1], directory=False, display=display)
        try:
            if info.st_size > max_bytes:
                raise Refused(display, f"{_size(info.st_size)}, larger than the {_size(max_bytes)} read of it")
            data = _read_fd(fd, max_bytes)
        finally:
            os.close(fd)
    if len(data) > max_bytes:
        raise Refused(display, f"grew past the {_size(max_bytes)} read of it while it was read")
    return data


def read_file(path: Path, *, max_bytes: int) -> bytes:
    """``read_bytes`` of a file whose folder is trusted (the scratch copy): only its last part is the student's."""
    path = Path(path)
    return read_bytes(path.parent, path.name, max_bytes=max_bytes)


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
    """UTF-8 text with undecodable bytes replaced by U+FFFD, and a note naming the file when any were."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        return text, [f"{shown(name)} is not valid UTF-8: the bytes that are not were read as U+FFFD"]


def read_notebook(path: Path, *, max_bytes: int):
    """A student's notebook from a trusted folder (the scratch copy), no-follow and at most ``max_bytes``.

    Returns ``(notebook, notes)``: text that is not UTF-8 and lone surrogates are read as U+FFFD, each with
    a note. Raises ``Refused`` (not a regular file, too large) or ``autograder.notebook.InvalidNotebook``.
    """
    path = Path(path)
    data = read_file(path, max_bytes=max_bytes)
    text, notes = decode_text(data, path.name)
    notebook, replaced = parse_notebook(text, path.name)
    if replaced:
        notes.append(f"{shown(path.name)}: {replaced} characters that cannot be written (lone surrogates) were "
                     "read as U+FFFD")
    return notebook, notes


def subfolders(root: Path) -> list[str]:
    """Names in the instructor's folder ``root`` that are folders, or links (refused when read, so a student
    whose folder is a link still gets a record saying why), in name order."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) or e.is_symlink())


@dataclass
class Walked:
    """What a walk of a submission folder took and what it left out (``notes``, for the record's message)."""

    files: list[str] = field(default_factory=list)  # relative POSIX paths of the regular files taken
    size: int = 0
    refused: list[Refused] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    over_count: bool = False
    max_bytes: int = 0
    max_files: int = 0

    @property
    def refused_names(self) -> set[str]:
        return {r.name for r in self.refused}

    @property
    def notes(self) -> list[str]:
        notes = [str(r) for r in self.refused[:MAX_NAMED]]
        if len(self.refused) > MAX_NAMED:
            notes.append(f"refused {len(self.refused) - MAX_NAMED} more files that are links, devices, pipes or "
                         f"sockets {ONLY_REGULAR}")
        if self.too_large:
            names = ", ".join(self.too_large[:MAX_NAMED]) + (" ..." if len(self.too_large) > MAX_NAMED else "")
            notes.append(f"not copied ({len(self.too_large)} files past the {_size(self.max_bytes)} a submission "
                         f"may hold, c.Autograder.submission_mb): {names}")
        if self.over_count:
            notes.append(f"not copied: the folder holds more than {self.max_files} files and folders "
                         f"(c.Autograder.submission_files); the first {self.max_files}, top-level notebooks first, "
                         "were copied")
        return notes


def _walk(root: Path, relative, *, max_bytes: int, max_files: int, on_folder, on_file) -> Walked:
    """Breadth first over the folder ``root/relative`` (see ``open_folder``), without following links.

    ``on_folder(parts)`` is called for each folder inside, ``on_file(parts, fd, info, budget)`` for each
    regular file (it returns the bytes it took, at most ``budget``, or raises ``Refused``).
    """
    walked = Walked(max_bytes=max_bytes, max_files=max_files)
    seen = 0
    with open_folder(root, relative) as top:
        queue: deque[tuple[str, ...]] = deque([()])
        while queue and not walked.over_count:
            parts = queue.popleft()
            folder = os.dup(top)
            try:
                for depth, part in enumerate(parts):  # each level again without following: nothing was swapped
                    inner, _ = _open_entry(folder, part, directory=True, display=shown("/".join(parts[:depth + 1])))
                    os.close(folder)
                    folder = inner
                room = max_files - seen + 1  # one more entry than the count allows tells it was passed
                notebooks, others = [], []
                with os.scandir(folder) as listing:
                    # Listed whole but kept bounded: a folder of a million entries costs time, not memory.
                    for entry in listing:
                        if entry.name in SKIPPED_FOLDERS and entry.is_dir(follow_symlinks=False):
                            continue
                        kept = notebooks if entry.name.endswith(".ipynb") else others
                        kept.append(entry)
                        if len(kept) > 2 * room:  # keep the first names only, in name order
                            kept.sort(key=lambda e: e.name)
                            del kept[room:]
                entries = sorted(notebooks, key=lambda e: e.name)[:room] + sorted(others, key=lambda e: e.name)[:room]
                for entry in entries:
                    seen += 1
                    if seen > max_files:
                        walked.over_count = True
                        break
                    inner = parts + (entry.name,)
                    display = shown("/".join(inner))
                    try:
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISDIR(info.st_mode):
                            on_folder(inner)
                            queue.append(inner)
                            continue
                        if not stat.S_ISREG(info.st_mode):
                            raise Refused(display, what_it_is(info.st_mode))
                        if walked.size + info.st_size > max_bytes:
                            walked.too_large.append(display)
                            continue
                        fd, info = _open_entry(folder, entry.name, directory=False, display=display)
                        try:
                            walked.size += on_file(inner, fd, info, max_bytes - walked.size)
                        finally:
                            os.close(fd)
                        walked.files.append("/".join(inner))
                    except Refused as refusal:
                        walked.refused.append(refusal)
                    except FileNotFoundError:
                        continue  # gone since it was listed
            except Refused as refusal:  # a folder swapped for a link since it was listed
                walked.refused.append(refusal)
            finally:
                os.close(folder)
    return walked


def copy_folder(root: Path, relative, dest: Path, *, max_bytes: int, max_files: int) -> Walked:
    """Copy the regular files and folders of ``root/relative`` (the student's part no-follow) into the new
    folder ``dest``, within the bounds; what was left out is in the result's ``notes``.

    Raises ``Refused`` when ``root/relative`` itself is not a folder (a link), ``FileNotFoundError`` when it
    is not there; ``dest`` is then not created.
    """
    dest = Path(dest)

    def on_folder(parts):
        (dest.joinpath(*parts)).mkdir()

    def on_file(parts, fd, info, budget):
        target = dest.joinpath(*parts)
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      (info.st_mode & 0o777) | 0o600)
        written = 0
        try:
            while written <= budget:
                chunk = os.read(fd, min(_CHUNK, budget + 1 - written))
                if not chunk:
                    break
                os.write(out, chunk)  # a regular file on our disk: written whole
                written += len(chunk)
        finally:
            os.close(out)
        if written > budget:
            target.unlink()
            raise Refused(shown("/".join(parts)), f"grew past the {_size(max_bytes)} a submission may hold "
                          "while it was copied")
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
        return written

    with open_folder(root, relative):  # refuses a linked submission folder before anything is created
        pass
    dest.mkdir()
    return _walk(root, relative, max_bytes=max_bytes, max_files=max_files, on_folder=on_folder, on_file=on_file)


def read_folder(root: Path, relative, *, max_bytes: int, max_files: int) -> tuple[dict[str, bytes], Walked]:
    """The regular files of ``root/relative`` as relative POSIX path -> bytes (what a Dask task ships),
    within the bounds; what was left out is in the ``Walked`` notes. Raises as ``copy_folder`` does."""
    files: dict[str, bytes] = {}

    def on_file(parts, fd, info, budget):
        data = _read_fd(fd, budget)
        if len(data) > budget:
            raise Refused(shown("/".join(parts)), f"grew past the {_size(max_bytes)} a submission may hold "
                          "while it was read")
        files["/".join(parts)] = data
        return len(data)

    walked = _walk(root, relative, max_bytes=max_bytes, max_files=max_files, on_folder=lambda parts: None,
                   on_file=on_file)
    return files, walked


def _size(size: int) -> str:
    return f"{size / MB:.0f} MB" if size >= MB else f"{size} bytes"
