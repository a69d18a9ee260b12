"""Atomic writes: a failure leaves the old result or none, never half of one."""

from __future__ import annotations

import os
import stat

import pytest

from mikrodata.toolkit.atomic import atomic_directory, atomic_file, write_text_atomic


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
