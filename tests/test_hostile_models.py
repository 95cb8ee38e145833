"""Model files that are damaged or hostile: zip bombs, headers that declare huge layers or arrays,
every header field of the wrong type or range, files that are not files. Each one raises a
ModelFileError that names the problem, and costs little memory (measured with tracemalloc, which
sees NumPy's arrays too); random and mutated files (hypothesis) raise nothing else."""

import io
import json
import os
import re
import zipfile

import numpy as np
import pytest
from helpers import peak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy

import digitnet as dn
from digitnet.errors import DigitnetError, ModelFileError
from digitnet.limits import MAX_PARAMS, MiB
from digitnet.modelcheck import json_depth
from digitnet.modelfile import BUILTIN_LAYER_TYPES
from digitnet.nn.sizes import layer_plan
from digitnet.onevsrest import labels_for

#: the most memory one hostile file of these tests may cost while it is refused
SMALL = 32 * MiB
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape, descr="<f4"):
    """A .npy header alone, declaring an array of ``shape``."""
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def members_of(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def header_of(members):
    return json.loads(members["header"].tobytes())


def write_model(path, header, arrays):
    """A model file holding ``header`` (JSON) and ``arrays`` by member name ("param/0.W")."""
    members = dict(arrays)
    members["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **members)
    return path


def deflated_zeros(zf, name, head, n_bytes, chunk=1 << 22):
    """Member ``name``: ``head`` then ``n_bytes`` zero bytes, deflated (a zip bomb)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as f:
        f.write(head)
        zero = bytes(chunk)
        for start in range(0, n_bytes, chunk):
            f.write(zero[:min(chunk, n_bytes - start)])


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small trained-looking model file with every meta field the commands read."""
    net = dn.build_network("conv4-bn-pool2-16-10")
    path = tmp_path_factory.mktemp("m") / "small.npz"
    dn.save_model(net, path, metadata={
        "spec": "conv4-bn-pool2-16-10", "dataset": "sample", "binary_target": None,
        "training": {"model": "cnn", "lr": 0.05}, "result": {"test_accuracy": 0.9},
        "history": {"epoch": [1, 2], "loss": [0.5, 0.4], "accuracy": [0.8, 0.9],
                    "val_loss": [0.6, 0.5], "val_accuracy": [0.8, 0.85], "lr": [0.1, 0.1],
                    "seconds": [1.0, 1.1], "batch_loss": [1.0, 0.7, 0.4],
                    "stop_reason": "completed", "best_epoch": None}})
    return path


def use(net):
    """What the commands do with a loaded model: predict, evaluate, name the classes."""
    x = np.random.default_rng(0).random((3, net.n_inputs)).astype(np.float32)
    pred = net.predict(x)
    names = net.class_names
    assert [names[c] for c in pred]
    y = labels_for(net, np.array([1, 7, 3]))
    net.evaluate(x, y % net.n_classes)


# --- the model is read the same as before ----------------------------------------------------
def test_the_small_model_loads_and_works(small_model):
    net = dn.load_model(small_model)
    use(net)
    assert net.meta["history"]["loss"] == [0.5, 0.4]


#: arguments of each built-in layer type with arguments (the others take none)
EXAMPLE_ARGS = {"Dense": {"n_in": 7, "n_out": 3}, "BatchNorm": {"n": 6}, "Dropout": {"p": 0.5},
                "Conv2D": {"c_in": 2, "c_out": 5, "kernel": 3, "stride": 2, "padding": 1},
                "LeakyReLU": {"alpha": 0.1}, "MaxPool2D": {"size": 2}, "AvgPool2D": {"size": 0},
                "Reshape": {"shape": [4, 4, 2]}}


@pytest.mark.parametrize("name", sorted(BUILTIN_LAYER_TYPES))
def test_layer_sizes_planned_from_a_config_are_those_the_layers_build(name):
    """nn.sizes knows the array shapes of every built-in layer (load_model compares a file's
    arrays with them before building any layer)."""
    layer = BUILTIN_LAYER_TYPES[name](**EXAMPLE_ARGS.get(name, {}))
    arrays, _, _ = layer_plan(name, {"type": name, **layer.config()}, None, name)
    assert arrays == {k: v.shape for d in (layer.params, layer.state) for k, v in d.items()}


# --- bombs: refused before they cost anything --------------------------------------------------
def test_header_declaring_dense_17000_by_17000_with_tiny_data(tmp_path, small_model):
    """A few hundred bytes whose header declares Dense(17000, 17000): 3.3 GiB before this
    change, as the layers were built before the weights were checked."""
    header = header_of(members_of(small_model))
    header["network"]["layers"] = [{"type": "Dense", "n_in": 17000, "n_out": 17000},
                                   {"type": "Dense", "n_in": 17000, "n_out": 10}]
    path = write_model(tmp_path / "m.npz", header, {})
    assert path.stat().st_size < 2000
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError), err
    assert "289,017,000 parameters" in str(err) and f"{MAX_PARAMS:,}" in str(err)
    assert used < SMALL


def test_header_declaring_a_large_network_within_the_limit_but_no_weights(tmp_path,
                                                                          small_model):
    """Dense(5000, 5000) is within the limit, but the file does not hold its weights: refused
    before any layer is built (building it would cost 300 MB)."""
    members = members_of(small_model)
    header = header_of(members)
    header["network"]["layers"] = [{"type": "Dense", "n_in": 784, "n_out": 5000},
                                   {"type": "Dense", "n_in": 5000, "n_out": 10}]
    path = write_model(tmp_path / "m.npz", header, {"param/0.W": np.zeros((784, 10), "f4")})
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError) and "do not match its architecture" in str(err)
    assert used < SMALL


def test_zip_bomb_weights_are_refused_before_they_are_inflated(tmp_path, small_model):
    """param/0.W declares (4000, 4000) float32, 64 MB of zeros deflated into 62 KB."""
    members = members_of(small_model)
    header = header_of(members)
    header["network"]["layers"] = [{"type": "Dense", "n_in": 4000, "n_out": 4000}]
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", npy_bytes(np.frombuffer(json.dumps(header).encode(), "u1")))
        deflated_zeros(zf, "param/0.W.npy", npy_header((4000, 4000)), 4000 * 4000 * 4)
        zf.writestr("param/0.b.npy", npy_bytes(np.zeros(4000, "f4")))
    assert path.stat().st_size < 100_000
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError), err
    assert "zip bomb" in str(err) and "MAX_MODEL_RATIO" in str(err)
    assert used < SMALL


@pytest.mark.slow
def test_zip_bomb_of_a_gigabyte_costs_nothing(tmp_path, small_model):
    """The 17000 x 17000 float32 weights (1.1 GiB) as a 1.1 MB deflated member."""
    header = header_of(members_of(small_model))
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", npy_bytes(np.frombuffer(json.dumps(header).encode(), "u1")))
        deflated_zeros(zf, "param/0.W.npy", npy_header((17000, 17000)), 17000**2 * 4,
                       chunk=1 << 24)
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError) and "zip bomb" in str(err)
    assert used < SMALL


def test_junk_bomb_member_is_never_read(tmp_path, small_model):
    """A member digitnet does not read (here a 64 MiB deflated bomb) costs nothing."""
    path = tmp_path / "extra.npz"
    path.write_bytes(small_model.read_bytes())
    with zipfile.ZipFile(path, "a") as zf:
        deflated_zeros(zf, "junk.npy", npy_header((2**24,)), 2**26)
    net, used = peak(dn.load_model, path)
    assert isinstance(net, dn.Network), net
    assert used < SMALL


def test_array_declared_as_4_tib(tmp_path, small_model):
    """Before: np.load allocated what the .npy header declared -> MemoryError."""
    members = members_of(small_model)
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in members.items():
            data = npy_bytes(array)
            if name == "param/1.W":  # the same data under a header declaring 2^40 values
                data = npy_header((2**40,)) + data[len(npy_header(array.shape)):]
            zf.writestr(name + ".npy", data)
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError), err
    assert "1.W" in str(err) and "4 TiB" in str(err)
    assert used < SMALL


def test_header_nested_100000_deep(tmp_path, small_model):
    members = members_of(small_model)
    path = tmp_path / "deep.npz"
    text = json.dumps(header_of(members))[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    members["header"] = np.frombuffer(text.encode(), np.uint8)
    np.savez(path, **members)
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError) and "nested" in str(err), err
    assert used < SMALL


def test_header_nested_just_too_deep_for_the_limit(tmp_path, small_model):
    members = members_of(small_model)
    header = header_of(members)
    header["meta"]["deep"] = json.loads("[" * 40 + "]" * 40)
    path = write_model(tmp_path / "m.npz", header,
                       {k: v for k, v in members.items() if k != "header"})
    with pytest.raises(ModelFileError, match="nested more than 32 levels"):
        dn.load_model(path)


def test_json_depth():
    assert [json_depth(v) for v in (1, [], [1, [2]], {"a": {"b": [3]}}, [[], [[[]]]])] == \
        [0, 1, 2, 3, 4]


def test_directory_claiming_more_compressed_data_than_the_file(tmp_path, small_model):
    """Entries that overlap (a classic zip bomb) declare more data than the file holds."""
    data = bytearray(small_model.read_bytes())
    at = data.index(b"PK\x01\x02")  # the first entry of the zip directory
    data[at + 20:at + 24] = (2**31).to_bytes(4, "little")  # its compressed size
    path = tmp_path / "m.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="declares more compressed data than the file"):
        dn.load_model(path)


# --- not files, not zips ------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["folder", "empty", "missing", "text", "zip_of_junk",
                                  "zip_without_header", "header_not_json", "header_not_utf8",
                                  "header_not_bytes", "fifo", "null_byte"])
def test_what_is_not_a_model_file(tmp_path, case, small_model):
    path = tmp_path / "m.npz"
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello\n" * 100)
    elif case == "zip_of_junk":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("header.npy", os.urandom(500))
    elif case == "zip_without_header":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hi")
    elif case == "header_not_json":
        np.savez(path, header=np.frombuffer(b"{not json", np.uint8))
    elif case == "header_not_utf8":
        np.savez(path, header=np.frombuffer(b"\xff\xfe\x00", np.uint8))
    elif case == "header_not_bytes":
        np.savez(path, header=np.arange(10.0))
    elif case == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif case == "null_byte":
        path = str(path) + "\0x"
    with pytest.raises(ModelFileError) as info:
        dn.load_model(path)
    assert "\n" not in str(info.value)


def test_every_truncation_of_a_model_file(tmp_path, small_model):
    data = small_model.read_bytes()
    path = tmp_path / "m.npz"
    for n in sorted({*range(0, 200, 7), *range(0, len(data), max(1, len(data) // 150)),
                     *range(len(data) - 100, len(data))}):
        path.write_bytes(data[:n])
        with pytest.raises(ModelFileError):
            dn.load_model(path)


# --- every header field checked ------------------------------------------------------------------
def set_field(header, dotted, value):
    *parents, last = dotted.split(".")
    d = header
    for k in parents:
        d = d[int(k)] if isinstance(d, list) else d[k]
    if value is KeyError:
        del d[last]
    elif isinstance(d, list):
        d[int(last)] = value
    else:
        d[last] = value


BAD_FIELDS = [
    ("version", "1", "version"), ("version", 1.5, "version"), ("version", True, "version"),
    ("version", 0, "version"), ("version", [1], "version"), ("version", 3, "newer digitnet"),
    ("format", 5, "not a digitnet model"), ("dtype", "int8", "dtype"),
    ("dtype", 32, "dtype"), ("network", [], "'network'"), ("network.layers", {}, "layers"),
    ("network.layers", [], "layers"), ("network.layers.0", 7, r"layers\[0\]"),
    ("network.layers.0.type", None, r"layers\[0\].type"),
    ("network.layers.0.type", "Nope", "register_layer"),
    ("network.loss", "mse", "loss"), ("network.loss", None, "loss"),
    ("network.layers.1.c_out", 1e12, "c_out must be a whole number"),
    ("network.layers.1.c_out", float("inf"), "finite"),
    ("network.layers.1.c_out", "4", "c_out must be a whole number"),
    ("network.layers.1.c_out", True, "c_out must be a whole number"),
    ("network.layers.1.c_out", -4, "c_out must be at least 1"),
    ("network.layers.1.c_out", 10**12, "parameters"),
    ("network.layers.1.c_out", 10**6, "values per image"),
    ("network.layers.1.kernel", 0, "kernel must be at least 1"),
    ("network.layers.1.kernel", 500, "values per image"),
    ("network.layers.1.stride", 10**6, "does not fit"),
    ("network.layers.1.padding", 10**6, "values per image"),
    ("network.layers.1.padding", "wide", "padding"),
    ("network.layers.0.shape", [28, 28], "reshapes|takes images"),
    ("network.layers.0.shape", "28x28", "shape must be a list"),
    ("network.layers.0.shape", [10**5, 10**5, 1], "values per image"),
    ("network.layers.2.eps", float("nan"), "finite"),
    ("network.layers.2.n", 5, "normalizes 5 features|do not match"),
    ("network.layers.2.momentum", "fast", "cannot build"),
    ("network.layers.6.n_in", 17, "takes 17 values"),
    ("network.layers.8.n_out", 11, "do not match|has shape"),
    ("network.layers.6.init", 3, "cannot build"),
    ("meta", [], "'meta'"), ("meta.class_names", "0123456789", "class_names"),
    ("meta.class_names", [str(i) for i in range(3)], "3 names but the network tells 10"),
    ("meta.class_names", list(range(10)), "class_names"),
    ("meta.binary_target", "7", "binary_target"), ("meta.binary_target", True, "binary_target"),
    ("meta.binary_target", 7, "binary_target' must be null for a network with more than one"),
    ("meta.spec", 5, "meta.spec"), ("meta.dataset", {}, "meta.dataset"),
    ("meta.training", [], "meta.training"), ("meta.result", 0.9, "meta.result"),
    ("meta.history", [1], "meta.history"), ("meta.history.loss", ["a", "b"], "history.loss"),
    ("meta.history.loss", [0.5], "history.loss"), ("meta.history.epoch", "12", "history.epoch"),
    ("meta.history.val_loss", [1, 2, 3], "history.val_loss"),
    ("meta.history.batch_loss", [[1]], "history.batch_loss"),
    ("meta.history.stop_reason", 3, "stop_reason"),
    ("meta.history.best_epoch", 1.5, "best_epoch"), ("meta.history.accuracy", KeyError,
                                                     "history.accuracy"),
    ("meta.calibration", 1.5, "meta.calibration' must be a dict"),
    ("meta.calibration", {}, "calibration.temperature"),
    ("meta.calibration", {"temperature": "2"}, "calibration.temperature"),
    ("meta.calibration", {"temperature": True}, "calibration.temperature"),
    ("meta.calibration", {"temperature": 0}, "calibration.temperature"),
    ("meta.calibration", {"temperature": -1.5}, "calibration.temperature"),
    ("meta.calibration", {"temperature": 1e-300}, "calibration.temperature"),
    ("meta.calibration", {"temperature": 1e300}, "calibration.temperature"),
    ("meta.calibration", {"temperature": float("nan")}, "calibration.temperature"),
    ("meta.calibration", {"temperature": float("inf")}, "calibration.temperature"),
    ("meta.calibration", {"temperature": [1.5]}, "calibration.temperature"),
    ("meta.calibration", {"temperature": 1.5, "n": -3}, "calibration.n"),
    ("meta.calibration", {"temperature": 1.5, "nll_after": "low"}, "calibration.nll_after"),
    ("meta.calibration", {"temperature": 1.5, "fitted_on": 7}, "calibration.fitted_on"),
]


@pytest.mark.parametrize("field, value, message", BAD_FIELDS,
                         ids=[f"{f}={v!r}"[:60] for f, v, _ in BAD_FIELDS])
def test_each_bad_header_field_is_named(tmp_path, small_model, field, value, message):
    members = members_of(small_model)
    header = header_of(members)
    set_field(header, field, value)
    path = write_model(tmp_path / "m.npz", header,
                       {k: v for k, v in members.items() if k != "header"})
    err, used = peak(dn.load_model, path)
    assert isinstance(err, ModelFileError), err
    assert "\n" not in str(err)
    assert re.search(message, str(err)), str(err)
    assert used < SMALL


@pytest.mark.parametrize("field, value", [
    ("meta.class_names", []), ("meta", KeyError), ("version", KeyError), ("dtype", KeyError),
    ("meta.history", None), ("meta.history.val_loss", []),
    ("meta.history.loss", [float("nan")] * 2),
    ("meta.anything", {"of": ["yours", 1]}),
    ("meta.calibration", None), ("meta.calibration", {"temperature": 2}),
    ("meta.calibration", {"temperature": 0.5, "n": 100, "fitted_on": "validation",
                          "nll_before": 0.3, "nll_after": 0.2}),
])
def test_fields_that_may_be_left_out_or_empty(tmp_path, small_model, field, value):
    members = members_of(small_model)
    header = header_of(members)
    set_field(header, field, value)
    path = write_model(tmp_path / "m.npz", header,
                       {k: v for k, v in members.items() if k != "header"})
    use(dn.load_model(path))


def test_a_one_vs_rest_model_keeps_its_target(tmp_path):
    net = dn.build_network("784-8-1")
    path = dn.save_model(net, tmp_path / "is7.npz", class_names=["not 7", "7"],
                         metadata={"binary_target": 7})
    back = dn.load_model(path)
    assert back.meta["binary_target"] == 7 and back.class_names == ["not 7", "7"]
    use(back)


def test_weights_of_the_wrong_dtype_or_not_finite(tmp_path, small_model):
    members = members_of(small_model)
    header = header_of(members)
    arrays = {k: v for k, v in members.items() if k != "header"}
    for bad, message in ((arrays["param/1.W"].astype(np.int32), "int32"),
                         (np.full_like(arrays["param/1.W"], np.nan), "NaN"),
                         (arrays["param/1.W"][:1], "shape")):
        path = write_model(tmp_path / "m.npz", header, {**arrays, "param/1.W": bad})
        with pytest.raises(ModelFileError, match=message):
            dn.load_model(path)
    with_float64 = {k: v.astype(np.float64) for k, v in arrays.items()}  # still readable
    use(dn.load_model(write_model(tmp_path / "m.npz", header, with_float64)))


def test_the_cli_prints_one_line_for_a_hostile_model(tmp_path, small_model, capsys):
    from digitnet.cli import main

    header = header_of(members_of(small_model))
    header["network"]["layers"] = [{"type": "Dense", "n_in": 17000, "n_out": 17000}]
    path = write_model(tmp_path / "m.npz", header, {})
    for command in (["evaluate", path], ["predict", path], ["doctor", "--model", path],
                    ["gradcheck", "--model", path]):
        assert main([str(a) for a in command]) == 1
        err = capsys.readouterr().err
        assert err.startswith("digitnet: error: ") and len(err.strip().splitlines()) == 1


# --- fuzzing -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def load_or_error(folder, data):
    """load_model on ``data``: a Network (then used like the commands use it) or a
    DigitnetError; any other exception fails the test."""
    path = folder / "fuzz.npz"
    path.write_bytes(data)
    try:
        net = dn.load_model(path)
    except DigitnetError:
        return None
    use(net)
    return net


@FUZZ
@given(data=st.binary(max_size=3000))
def test_fuzz_random_bytes(fuzz_dir, data):
    load_or_error(fuzz_dir, data)


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_model_file(fuzz_dir, small_model, data):
    raw = bytearray(small_model.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if kind == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del raw[at:at + data.draw(st.integers(1, 16))]
        else:
            del raw[at:]
            break
    load_or_error(fuzz_dir, bytes(raw))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([0, 1, 784, 10])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["Dense", "Conv2D", "float64", "softmax_ce", "same", "he"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)


def leaf_paths(value, path=()):
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for k, v in children:
        yield from leaf_paths(v, (*path, k))


@FUZZ
@given(data=st.data())
def test_fuzz_header_fields(fuzz_dir, small_model, data):
    """Any field of the header (the layers' sizes, the metadata, ...) replaced by any JSON
    value, or removed."""
    members = members_of(small_model)
    header = header_of(members)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(leaf_paths(header))[1:]))
        parent = header
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    buf = io.BytesIO()
    members["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(buf, **members)
    load_or_error(fuzz_dir, buf.getvalue())


def test_fuzz_sizes_keep_memory_small(tmp_path, small_model):
    """Layer sizes from 1 to 10^12 in a small file: every one refused or loaded within a small
    multiple of what it is, never more than SMALL."""
    members = members_of(small_model)
    arrays = {k: v for k, v in members.items() if k != "header"}
    for n in (1, 10, 10**4, 10**6, 10**8, 10**9, 10**12, 2**63):
        for field in ("network.layers.1.c_out", "network.layers.6.n_in", "network.layers.8.n_out",
                      "network.layers.2.n", "network.layers.0.shape.0"):
            header = header_of(members)
            set_field(header, field, n)
            path = write_model(tmp_path / "m.npz", header, arrays)
            out, used = peak(dn.load_model, path)
            assert isinstance(out, ModelFileError | dn.Network), out
            assert used < SMALL, (field, n, used)


def test_a_real_model_loads_with_about_its_own_size_of_memory(tmp_path):
    """The mlp preset (2 MB): its weights, as built and as read, and a float64 draw of the
    largest one when the layer is built."""
    path = dn.save_model(dn.build_network("mlp"), tmp_path / "mlp.npz")
    net, used = peak(dn.load_model, path)
    assert isinstance(net, dn.Network) and net.n_params == 535_818
    assert used < 4 * path.stat().st_size + MiB


def test_deflated_model_files_still_load(tmp_path, small_model):
    """np.savez_compressed writes deflated members: read the same."""
    members = members_of(small_model)
    path = tmp_path / "z.npz"
    np.savez_compressed(path, **members)
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    use(dn.load_model(path))
