"""Atomic writes: a crash leaves the old result or none, never half of one.

Files are written to a temporary sibling and renamed into place (``os.replace`` is
atomic on one file system). Directories (Parquet datasets, extracts, report sites)
are built in a temporary sibling directory and exchanged with the old one in one step
(Linux's ``renameat2``); the old directory is removed only after the new one is in
place. Results that belong together (an output and its reject file, an extract and its
rejects) are swapped in under a journal, so a kill leaves the old set or the new one
(:func:`atomic_together`).

This module imports nothing of ours, so every layer may import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_directory",
    "atomic_file",
    "atomic_together",
    "complete_pending",
    "private_file",
    "write_bytes_atomic",
    "write_text_atomic",
]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    ``mode`` (e.g. ``0o600``) is set on the temporary file before anything is written
    into it by the caller, so secrets are never readable by others, not even briefly.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    if mode is not None:
        os.chmod(tmp, mode)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600 (for a writer that opens it after): a file
    holding raw identifiers is never readable by others, not even briefly."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)  # an existing file keeps its mode through O_CREAT
    return target


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, mode=mode) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, mode: int | None = None) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces ``path`` whole.

    On an exception (or a kill) the temporary directory is left behind or removed, and
    ``path`` keeps its previous contents. Leftover ``.<name>.*.tmp`` siblings of an
    interrupted run are harmless and removed by the next successful run.
    """
    with atomic_together(directories=[path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_together(
    files: Sequence[str | os.PathLike[str]] = (),
    directories: Sequence[str | os.PathLike[str]] = (),
    modes: Sequence[int | None] = (),
) -> Iterator[list[Path]]:
    """Yield temporary paths for several results (``files``, then ``directories``) that
    replace their targets as one step: a kill leaves the old set or the new set.

    Each temporary sits beside its target (renames stay on one file system); ``modes``
    are set on the files' temporaries before anything is written. On success a journal
    (``.<first>.commit.json``: each temporary, its target and the new one's inode) is
    written and synced, then the targets are swapped, then the journal is removed. A run
    killed while swapping leaves the journal, and the next run on the same first target
    (or :func:`complete_pending`) finishes the swap; an existing directory is swapped by
    one ``renameat2(RENAME_EXCHANGE)`` where Linux offers it, so it never disappears.
    """
    targets = [Path(p) for p in [*files, *directories]]
    if not targets:
        raise ValueError("atomic_together needs at least one target")  # a bug, not input
    journal = _journal_path(targets[0])
    complete_pending(targets[0])
    temps: list[Path] = []
    try:
        for i, target in enumerate(targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            if i < len(files):
                fd, name = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
                )
                os.close(fd)
                tmp = Path(name)
                mode = modes[i] if i < len(modes) else None
                if mode is not None:
                    os.chmod(tmp, mode)
            else:
                for stale in target.parent.glob(f".{target.name}.*.tmp"):
                    shutil.rmtree(stale, ignore_errors=True)
                tmp = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
                )
                # mkdtemp makes the directory private (0700); give it a plain mkdir's mode.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o777 & ~umask)
            temps.append(tmp)
        yield temps
        for tmp in temps:
            _fsync(tmp)
        entries = [
            {"tmp": str(tmp), "target": str(target), "inode": _inode(tmp)}
            for tmp, target in zip(temps, targets, strict=True)
        ]
        write_text_atomic(journal, json.dumps(entries))
        _roll_forward(entries)
        journal.unlink()
        _fsync_dir(journal.parent)
    finally:
        if not journal.exists():
            for tmp in temps:
                _remove(tmp)


def complete_pending(first_target: str | os.PathLike[str]) -> bool:
    """Finish a swap a killed run left half done (see :func:`atomic_together`); True if
    there was one."""
    journal = _journal_path(Path(first_target))
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except ValueError:  # the journal itself was being written: nothing was swapped yet
        journal.unlink()
        return False
    _roll_forward(entries)
    journal.unlink()
    _fsync_dir(journal.parent)
    return True


def _journal_path(first: Path) -> Path:
    return first.parent / f".{first.name}.commit.json"


def _inode(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_dev, st.st_ino]


def _roll_forward(entries: list[dict]) -> None:
    """Put each journalled temporary in place, unless it is there already (idempotent:
    the inode tells the new result from the old)."""
    for entry in entries:
        tmp, target, inode = Path(entry["tmp"]), Path(entry["target"]), entry["inode"]
        if target.exists() and _inode(target) == inode:
            pass  # swapped before the kill
        elif tmp.exists() and _inode(tmp) == inode:
            _swap_in(tmp, target)
        # else: neither holds the new result (cannot happen short of outside meddling)
        if tmp.exists() and _inode(tmp) != inode:
            _remove(tmp)  # the old result, exchanged out
        _fsync_dir(target.parent)


def _swap_in(tmp: Path, target: Path) -> None:
    """``tmp`` onto ``target`` in one step. A file is replaced by ``os.replace``; an
    existing directory is exchanged with ``tmp`` (which then holds the old one) where
    the kernel can, else moved aside first (the journal covers the gap)."""
    if not (target.is_dir() and not target.is_symlink()):
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)
    os.replace(tmp, target)
    _remove(old)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where
    the system or the file system does not offer it."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@functools.cache
def _renameat2() -> Any:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _fsync(path: Path) -> None:
    if path.is_dir():
        _fsync_dir(path)
        return
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
