#!/usr/bin/env bash
# The core alone: in a fresh virtual environment, `pip install .` (no extras) installs no optional
# package; digitnet trains, evaluates and predicts on the shipped sample, on IDX files and on
# Kaggle CSV files; and the commands that need an extra say which one to install (exit 1, one
# line). About a minute, most of it the install. Run from anywhere:
#
#     bash tools/check_core_install.sh
#
# .ci/run runs it. It works in a temporary folder and leaves the checkout as it was.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "check_core_install: $*"; }

# a copy of the checkout without its build outputs, so that no stale build/ ends up in the wheel
mkdir "$work/src"
tar -C "$root" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=./runs -cf - . | tar -C "$work/src" -xf -
say "pip install . (no extras) into a fresh virtual environment"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$work/src"
py=$work/venv/bin/python
cd "$work"
dn() { timeout 300 "$work/venv/bin/digitnet" "$@"; }

"$py" - <<'EOF'
import importlib.util
import subprocess
import sys
import time

optional = ["PIL", "scipy", "matplotlib", "flask", "werkzeug", "waitress", "onnx"]
found = [m for m in optional if importlib.util.find_spec(m) is not None]
if found:
    sys.exit(f"FAIL: the core install pulled optional packages: {', '.join(found)}")
times = []
for _ in range(5):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import digitnet"], check=True)
    times.append(time.perf_counter() - t0)
print(f"check_core_install: no optional package installed; python -c 'import digitnet' took "
      f"{min(times):.2f}-{max(times):.2f} s (5 runs)")
EOF

say "IDX files and Kaggle CSV files from the shipped sample"
"$py" - <<'EOF'
from pathlib import Path

import numpy as np

import digitnet as dn
from digitnet.data import write_idx

ds = dn.load_dataset("sample", val_size=0)
x_train = np.rint(ds.x_train[:3000] * 255).astype(np.uint8)
x_test = np.rint(ds.x_test[:500] * 255).astype(np.uint8)
y_train, y_test = ds.y_train[:3000].astype(np.uint8), ds.y_test[:500].astype(np.uint8)
Path("idx").mkdir()
write_idx("idx/train-images-idx3-ubyte.gz", x_train.reshape(-1, 28, 28))
write_idx("idx/train-labels-idx1-ubyte.gz", y_train)
write_idx("idx/t10k-images-idx3-ubyte", x_test.reshape(-1, 28, 28))  # raw and gzip both read
write_idx("idx/t10k-labels-idx1-ubyte", y_test)
pixels = ",".join(f"pixel{i}" for i in range(784))
lines = (",".join(map(str, row)) for row in np.column_stack([y_train, x_train]))
Path("train.csv").write_text("label," + pixels + "\n" + "\n".join(lines) + "\n")
Path("test.csv").write_text(pixels + "\n" + "\n".join(",".join(map(str, r)) for r in x_test)
                            + "\n")
EOF
# accuracy >= $2 in the JSON last line of the command run with --json, saved in $1
check_accuracy() {
    "$py" -c "import json, sys; r = json.loads(open('$1').read().strip().splitlines()[-1]); \
a = r.get('test_accuracy', r.get('accuracy')); print('check_core_install:   accuracy', a); \
sys.exit(0 if a >= $2 else 'FAIL: accuracy below $2')"
}

say "digitnet train on the shipped sample, evaluate and predict on IDX files"
dn train --epochs 1 --out sample.npz --json -q >train.json
check_accuracy train.json 0.85
dn evaluate sample.npz --data idx --json >evaluate.json
check_accuracy evaluate.json 0.85
dn predict sample.npz --data idx >/dev/null
say "digitnet train, evaluate and predict on Kaggle CSV files"
dn train --data train.csv --model 784-64-10 --epochs 2 --out csv.npz --json -q >csv.json
check_accuracy csv.json 0.8
dn evaluate csv.npz --data train.csv >/dev/null
dn predict csv.npz --data test.csv --submission submission.csv >/dev/null
rows=$(wc -l <submission.csv)
[ "$rows" = 501 ] || { echo "FAIL: submission.csv has $rows lines, not 501"; exit 1; }
say "digitnet train on IDX files"
dn train --data idx --model 784-64-10 --epochs 1 --out idx.npz -q

say "commands that need an extra say which one to install"
printf 'not read: the command stops before' >seven.png
expect_extra() {  # expect_extra EXTRA ARG...: `digitnet ARG...` exits 1 with one line naming EXTRA
    local extra=$1 code=0
    shift
    dn "$@" >out.txt 2>err.txt || code=$?
    if [ "$code" != 1 ] || [ "$(wc -l <err.txt)" != 1 ] \
            || ! grep -qF "pip install 'digitnet[$extra]'" err.txt; then
        echo "FAIL: digitnet $* exited $code with:"
        cat err.txt
        exit 1
    fi
    echo "check_core_install:   digitnet $*  ->  $(cat err.txt)"
}
expect_extra images predict sample.npz seven.png
expect_extra images read sample.npz seven.png
expect_extra plots report sample.npz --out report
expect_extra web serve sample.npz --port 0
expect_extra onnx export sample.npz sample.onnx
"$py" -c "
import digitnet as dn
try:
    dn.plots
except dn.DigitnetError as e:
    assert \"pip install 'digitnet[plots]'\" in str(e), e
else:
    raise SystemExit('FAIL: dn.plots did not say to install digitnet[plots]')"
say "OK: the core alone trains, evaluates and predicts on IDX and CSV data"
