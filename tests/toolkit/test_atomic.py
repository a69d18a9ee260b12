"""Atomic writes: a failure leaves the old result or none, never half of one."""

from __future__ import annotations

import os
import stat

import pytest

from mikrodata.toolkit.atomic import (
    atomic_directory,
    atomic_file,
    atomic_together,
    complete_pending,
    write_text_atomic,
)


def test_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "a" / "out.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_mode_is_set_before_anything_is_written(tmp_path):
    target = tmp_path / "secret"
    with atomic_file(target, mode=0o600) as tmp:
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600
        tmp.write_bytes(b"x")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_directory_is_swapped_in_whole(tmp_path):
    target = tmp_path / "ds"
    with atomic_directory(target) as tmp:
        (tmp / "one").write_text("1")
    with atomic_directory(target) as tmp:
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o777 & ~umask


def test_a_failed_directory_build_keeps_the_old_directory(tmp_path):
    target = tmp_path / "ds"
    with atomic_directory(target) as tmp:
        (tmp / "good").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["good"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even except-Exception handlers)."""


def _kill_at(monkeypatch, name, after):
    """Make the ``after``-th call of ``os.<name>`` the last thing the process does."""
    real = getattr(os, name)
    calls = []

    def dying(*args, **kwargs):
        calls.append(args)
        if len(calls) == after:
            raise _Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, dying)
    return calls


def test_an_existing_directory_never_disappears_during_the_swap(tmp_path, monkeypatch):
    target = tmp_path / "extract"
    target.mkdir()
    (target / "part").write_text("old")
    # The old swap renamed the old directory away, then the new one in: a kill between
    # the two left no directory at the path. Any rename after the journal's would now
    # kill the process: there is none (one exchange).
    _kill_at(monkeypatch, "replace", 2)
    _kill_at(monkeypatch, "rename", 1)
    with atomic_directory(target) as tmp:
        (tmp / "part").write_text("new")
    assert (target / "part").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


def test_a_pair_is_swapped_in_together_or_finished_by_the_next_run(tmp_path, monkeypatch):
    out, rej = tmp_path / "out.csv", tmp_path / "out.rejected.csv"
    with atomic_together([out, rej]) as (a, b):
        a.write_text("out 1")
        b.write_text("rej 1")
    # Killed after the first of the two renames (the journal's own write is the first
    # os.replace, the output's the second).
    _kill_at(monkeypatch, "replace", 3)
    with pytest.raises(_Killed), atomic_together([out, rej]) as (a, b):
        a.write_text("out 2")
        b.write_text("rej 2")
    monkeypatch.undo()
    assert (out.read_text(), rej.read_text()) == ("out 2", "rej 1")  # the window
    assert complete_pending(out)  # what the next run does first
    assert (out.read_text(), rej.read_text()) == ("out 2", "rej 2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.rejected.csv"]
    assert not complete_pending(out)


def test_a_kill_before_the_journal_leaves_the_old_pair(tmp_path, monkeypatch):
    out, rej = tmp_path / "o", tmp_path / "r"
    with atomic_together([out], [rej]) as (a, b):
        a.write_text("1")
        (b / "x").write_text("1")
    _kill_at(monkeypatch, "replace", 1)  # the journal's rename
    with pytest.raises(_Killed), atomic_together([out], [rej]) as (a, b):
        a.write_text("2")
        (b / "x").write_text("2")
    monkeypatch.undo()
    complete_pending(out)
    assert (out.read_text(), (rej / "x").read_text()) == ("1", "1")
