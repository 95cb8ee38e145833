"""Nothing a user had is lost: saving a model (digitnet.files, save_model) and training runs that
fail (diverge, are interrupted, cannot write their output)."""

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
from digitnet.cli import main
from digitnet.errors import ModelFileError

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
FAST = ["--train-size", "500", "--epochs", "1", "--model", "784-16-10"]


@pytest.fixture(scope="module")
def net(sample):
    net = dn.build_network("784-16-10")
    dn.train(net, sample.x_train[:300], sample.y_train[:300], epochs=1, progress=False)
    return net


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".digitnet-*"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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


# --- training runs that fail --------------------------------------------------------------------
@pytest.fixture
def existing(tmp_path, net):
    """A good model file the user already has, with its own mode."""
    path = dn.save_model(net, tmp_path / "model.npz")
    os.chmod(path, 0o640)
    return path


def test_a_run_diverging_in_its_first_epoch_keeps_the_existing_file(capsys, existing):
    before = existing.read_bytes()
    code, out, err = run(capsys, "train", *FAST, "-q", "--lr", "1e30", "--out", str(existing),
                         "--report", str(existing.parent / "rep"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "training diverged" in err and f"{existing} is as it was" in err
    assert existing.read_bytes() == before and mode(existing) == 0o640
    assert not (existing.parent / "rep").exists()
    assert temps(existing.parent) == []


def test_a_run_diverging_in_its_first_epoch_writes_no_new_file(capsys, tmp_path):
    code, _, err = run(capsys, "train", *FAST, "-q", "--lr", "1e30", "--out",
                       str(tmp_path / "new.npz"))
    assert code == 1 and "new.npz was not written" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, message", [
    ("nowhere/m.npz", "does not exist"),
    ("afile/m.npz", "is a file, not a folder"),
    (".", "it is a folder"),
    ("readonly.npz", "read-only: pass --force"),
])
def test_an_unwritable_out_fails_before_loading_data(capsys, tmp_path, monkeypatch, where,
                                                     message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "readonly.npz").write_text("keep me")
    os.chmod(tmp_path / "readonly.npz", 0o444)
    t0 = time.perf_counter()
    code, out, err = run(capsys, "train", *FAST, "--out", where)
    assert code == 1 and f"cannot save the model to {where}: " in err and message in err
    assert len(err.strip().splitlines()) == 1  # no "data: ..." line: nothing was loaded
    assert out == "" and time.perf_counter() - t0 < 5  # generous: loading alone takes ~0.3 s
    assert (tmp_path / "readonly.npz").read_text() == "keep me"


@pytest.mark.parametrize("where, message", [
    ("afile", "cannot write the report into afile: it is a file, not a folder"),
    ("afile/report", "cannot write the report into afile/report: afile is a file, not a folder"),
    ("m.npz", "--out and --report both name m.npz"),
])
def test_an_unwritable_report_fails_before_loading_data(capsys, tmp_path, monkeypatch, where,
                                                        message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    code, out, err = run(capsys, "train", *FAST, "--out", "m.npz", "--report", where)
    assert code == 1 and message in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_report_command_checks_its_folder_first(capsys, tmp_path, existing):
    (tmp_path / "afile").write_text("mine")
    code, _, err = run(capsys, "report", str(existing), "--out", str(tmp_path / "afile"))
    assert code == 1 and "it is a file, not a folder" in err and len(err.splitlines()) == 1


def test_force_replaces_a_read_only_out_and_keeps_its_mode(capsys, existing):
    os.chmod(existing, 0o444)
    before = existing.read_bytes()
    code, _, err = run(capsys, "train", *FAST, "-q", "--seed", "7", "--out", str(existing),
                       "--force")
    assert code == 0, err
    assert existing.read_bytes() != before and mode(existing) == 0o444
    assert dn.load_model(existing).meta["training"]["seed"] == 7


def test_a_good_run_replaces_the_file_and_keeps_its_mode(capsys, existing):
    code, _, err = run(capsys, "train", *FAST, "-q", "--seed", "3", "--out", str(existing))
    assert code == 0, err
    assert mode(existing) == 0o640 and dn.load_model(existing).meta["training"]["seed"] == 3


@pytest.mark.slow
def test_ctrl_c_before_the_first_epoch_keeps_the_existing_file(tmp_path, net):
    """A real `digitnet` process, interrupted while its first epoch runs (a large model on all
    the sample: an epoch takes seconds)."""
    path = dn.save_model(net, tmp_path / "model.npz")
    before = path.read_bytes()
    exe = os.path.join(os.path.dirname(sys.executable), "digitnet")
    proc = subprocess.Popen([exe, "train", "--model", "784-1024-1024-10", "--epochs", "3",
                             "--out", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + 120
    while b"epoch 1/3" not in seen and time.time() < deadline:  # its progress bar: training
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    assert b"epoch 1/3" in seen and b"epoch   1" not in seen, seen[-500:]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = (seen + err).decode()
    assert proc.returncode == 130, err[-1000:]
    assert "interrupted before the first epoch completed: nothing was saved" in err
    assert f"{path} is as it was" in err and "Traceback" not in err
    assert path.read_bytes() == before and temps(tmp_path) == []


def test_history_counts_only_complete_epochs():
    h = dn.History(epoch=[1, 2, 3], partial_epoch=True)
    assert h.complete_epochs == 2
    assert dn.History(epoch=[1]).complete_epochs == 1
    assert dn.History().complete_epochs == 0
    # files saved before partial_epoch existed still load
    old_file = {"epoch": [1, 2], "stop_reason": "interrupted"}
    assert dn.History.from_dict(old_file).complete_epochs == 2
