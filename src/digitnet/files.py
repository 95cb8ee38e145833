"""Writing a file so that nothing a user had is lost.

    file_problem(path)           why a file could not be saved at ``path``, or None
    folder_problem(path)         why files could not be written into the folder ``path``, or None
    replace_file(path, write)    write(f) into a temporary file next to ``path``, flush and fsync
                                 it, give it the mode (and owner) of the file it replaces, rename
                                 it over ``path`` in one step, fsync the folder

The checks come first, so a command can refuse a place it cannot write *before* it spends an hour
training. A file that exists but is read-only (no write permission, or no write bit at all, which
also stops root) is a problem unless ``force``: a user who made a file read-only meant to keep it.
A symbolic link is followed: the file it points to is replaced and the link stays.

The temporary file is named ``.digitnet-<pid>-<host>-<random>.tmp``. A save killed half-way
(kill -9, a power cut) leaves only that file behind, and the old file as it was; the next save into
the same folder removes such leftovers once nothing can still be writing them: their process is
gone (same computer), or they have not changed for ``STALE_SECONDS`` (a save writes all the time,
so a minute without a change means its writer is dead, on whichever computer). Two saves running at
once never remove each other's file.
"""

from __future__ import annotations

import os
import stat
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX, TEMP_SUFFIX = ".digitnet-", ".tmp"
STALE_SECONDS = 60
#: which computer wrote a temporary file: its process id means something only there
HOST = format(zlib.crc32(os.uname().nodename.encode()) if hasattr(os, "uname") else 0, "08x")


def _target(path: str | os.PathLike) -> Path:
    """The file a save to ``path`` replaces: a symbolic link's target, else ``path`` as given."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_folder(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why files could not be written into the folder ``path`` (created if missing), or None."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            return "it is a file, not a folder: pass a folder name"
        if not _writable_folder(path):
            return "the folder is not writable (permission denied): pick another folder"
        return None
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not _writable_folder(parent):
        return f"cannot create it: folder {parent} is not writable (permission denied)"
    return None


def file_problem(path: str | os.PathLike, *, force: bool = False,
                 example: str = "model.npz") -> str | None:
    """Why a file could not be saved at ``path``, or None: a folder (the message suggests the
    file name ``example`` in it), a folder that does not exist, a path under a file, a folder
    without write permission, something that is not a regular file, or (unless ``force``) a
    read-only file."""
    target = _target(path)
    if target.is_dir():
        return f"it is a folder: give a file name, e.g. {Path(path) / example}"
    folder = target.parent
    if not folder.exists():
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            return f"{existing} is a file, not a folder"
        return f"folder {folder} does not exist: create it first (mkdir -p {folder})"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not _writable_folder(folder):
        return f"folder {folder} is not writable (permission denied): save somewhere else"
    if target.exists():
        if not target.is_file():
            return "it exists and is not a regular file"
        if not force and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
            return ("the file is read-only: pass --force (force=True in Python) to replace it, "
                    "or save to another file")
    return None


def replace_file(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a new temporary file next to ``path``, then rename it over ``path``:
    either the whole new file is there, or the old one is untouched. Returns the path written
    (symbolic links followed). Raises OSError (nothing replaced, no temporary file left); check
    ``file_problem`` first for a clear reason."""
    target = _target(path)
    remove_stale_temps(target.parent)
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    tmp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{HOST}-{os.urandom(4).hex()}{TEMP_SUFFIX}"
    # a new file gets what open() would give it (0o666 less the umask), not mkstemp's 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600 if old else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if old is not None:
            _copy_owner_and_mode(tmp, old)
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the error that got us here is the one to report
        raise
    _fsync_folder(target.parent)
    return target


def _copy_owner_and_mode(tmp: Path, old: os.stat_result) -> None:
    """The replacement keeps the old file's owner and group where allowed (root: both; a user:
    a group of theirs), then its permission bits."""
    if hasattr(os, "chown") and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        for uid in (old.st_uid, -1):
            try:
                os.chown(tmp, uid, old.st_gid)
                break
            except OSError:
                continue
    os.chmod(tmp, stat.S_IMODE(old.st_mode))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; elsewhere a folder cannot be opened: skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _writer_gone(name: str) -> bool:
    """True when a temporary file's name says it was written by a process of this computer that
    no longer runs."""
    parts = name[len(TEMP_PREFIX):-len(TEMP_SUFFIX)].split("-")
    if os.name != "posix" or len(parts) != 3 or not parts[0].isdigit() or parts[1] != HOST:
        return False
    try:
        os.kill(int(parts[0]), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # it exists (another user's) or the number is not a process id
    return False


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed saves left in ``folder``: those whose process is
    gone or that have not changed for ``STALE_SECONDS``. Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not (e.name.startswith(TEMP_PREFIX) and e.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            if now - e.stat(follow_symlinks=False).st_mtime > STALE_SECONDS or \
                    _writer_gone(e.name):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue  # removed by someone else meanwhile, or not ours to remove
    return removed
