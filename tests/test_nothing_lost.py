"""Nothing a user had is lost: saving a model (digitnet.files, save_model)."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import digitnet as dn
from digitnet import files
from digitnet.errors import ModelFileError

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@pytest.fixture(scope="module")
def net(sample):
    net = dn.build_network("784-16-10")
    dn.train(net, sample.x_train[:300], sample.y_train[:300], epochs=1, progress=False)
    return net


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".digitnet-*"))


# --- saving -------------------------------------------------------------------------------------
def test_a_replaced_file_keeps_its_mode(tmp_path, net):
    path = dn.save_model(net, tmp_path / "m.npz")
    for m in (0o640, 0o604, 0o600):
        os.chmod(path, m)
        dn.save_model(net, path)
        assert mode(path) == m
    assert temps(tmp_path) == []


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_what_the_umask_gives(tmp_path, net, umask, expected):
    old = os.umask(umask)
    try:
        dn.save_model(net, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert mode(tmp_path / "m.npz") == expected


def test_a_read_only_file_is_replaced_only_with_force(tmp_path, net, sample):
    path = dn.save_model(dn.build_network("784-16-10", seed=1), tmp_path / "m.npz")
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(ModelFileError, match="read-only: pass --force"):
        dn.save_model(net, path)
    assert path.read_bytes() == before and mode(path) == 0o444
    dn.save_model(net, path, force=True)
    assert path.read_bytes() != before and mode(path) == 0o444  # replaced, still read-only
    np.testing.assert_array_equal(dn.load_model(path).predict(sample.x_test[:50]),
                                  net.predict(sample.x_test[:50]))


@pytest.mark.parametrize("where, message", [
    ("folder", "it is a folder: give a file name"),
    ("missing/m.npz", "folder missing does not exist: create it first"),
    ("missing/deeper/m.npz", "does not exist"),
    ("afile/m.npz", "afile is a file, not a folder"),
    ("afile/sub/m.npz", "afile is a file, not a folder"),
])
def test_an_unwritable_place_is_refused_first_with_its_reason(tmp_path, net, where, message,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ModelFileError, match=f"cannot save the model to {where}: .*{message}"):
        dn.save_model(net, where)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]
    assert (tmp_path / "afile").read_text() == "mine" and not any((tmp_path / "folder").iterdir())


@pytest.mark.skipif(ROOT, reason="root may write into any folder")
def test_a_folder_without_write_permission_is_refused(tmp_path, net):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(ModelFileError, match="not writable"):
            dn.save_model(net, folder / "m.npz")
    finally:
        os.chmod(folder, 0o755)


def test_a_symbolic_link_is_followed_and_kept(tmp_path, net):
    real = dn.save_model(dn.build_network("784-16-10", seed=1), tmp_path / "real.npz")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    dn.save_model(net, link)
    assert link.is_symlink() and dn.load_model(real).config() == net.config()
    assert dn.load_model(link).predict(np.ones((1, 784), np.float32)) == \
        net.predict(np.ones((1, 784), np.float32))


def test_the_data_is_on_disk_before_the_rename(tmp_path, net, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"),
                                                     real_replace(a, b))[1])
    dn.save_model(net, tmp_path / "m.npz")
    assert calls[:2] == ["fsync", "replace"]  # the file's data, then the rename
    assert calls[2:] == ["fsync"] or os.name != "posix"  # then the folder holding the new name


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp(tmp_path, net, monkeypatch):
    path = dn.save_model(net, tmp_path / "m.npz")
    before = path.read_bytes()

    def fail(*a):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ModelFileError, match="cannot save the model to .*Input/output error"):
        dn.save_model(dn.build_network("784-16-10", seed=3), path)
    assert path.read_bytes() == before and temps(tmp_path) == []


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftovers_of_killed_saves_are_removed_and_live_ones_kept(tmp_path, net):
    old = time.time() - 2 * files.STALE_SECONDS
    leftovers = {
        f".digitnet-{dead_pid()}-{files.HOST}-aaaa.tmp": "its process is gone",
        ".digitnet-k3j2_x9.tmp": "no process id (an older digitnet), unchanged for 2 minutes",
        f".digitnet-{os.getpid()}-0badc0de-bbbb.tmp": "another computer's, unchanged 2 minutes",
    }
    kept = {
        f".digitnet-{os.getpid()}-{files.HOST}-cccc.tmp": "a save still running (this process)",
        f".digitnet-{dead_pid()}-0badc0de-dddd.tmp": "another computer's, fresh",
        ".digitnet-zz81_q.tmp": "no process id, fresh",
        "notes.tmp": "not ours",
        ".digitnet-cache": "not ours",
    }
    for name in [*leftovers, *kept]:
        (tmp_path / name).write_bytes(b"partial")
    for name in list(leftovers)[1:]:
        os.utime(tmp_path / name, (old, old))
    dn.save_model(net, tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "m.npz"])


@pytest.mark.slow
def test_a_save_killed_half_way_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path,
                                                                               net):
    path = dn.save_model(net, tmp_path / "m.npz")
    before = path.read_bytes()
    code = ("import os, signal, sys\nfrom digitnet.files import replace_file\n"
            "def write(f):\n    f.write(b'half a model')\n    f.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "replace_file(sys.argv[1], write)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert len(temps(tmp_path)) == 1  # what the killed save left
    dn.save_model(net, path)
    assert temps(tmp_path) == [] and dn.load_model(path).config() == net.config()


def test_two_saves_at_once_do_not_remove_each_others_temp(tmp_path, net, monkeypatch):
    """While one save writes, another into the same folder runs: both files end up whole."""
    other = tmp_path / "other.npz"
    real_savez = np.savez

    def savez_and_save_another(f, **arrays):
        monkeypatch.setattr(np, "savez", real_savez)  # the inner save writes plainly
        dn.save_model(net, other)  # runs its clean-up while the outer save's temp file exists
        assert len(temps(tmp_path)) == 1
        real_savez(f, **arrays)
    monkeypatch.setattr(np, "savez", savez_and_save_another)
    dn.save_model(net, tmp_path / "m.npz")
    assert dn.load_model(tmp_path / "m.npz").config() == dn.load_model(other).config()
    assert temps(tmp_path) == []
