"""Layers for images: Conv2D, MaxPool2D, AvgPool2D, Flatten, Reshape.

Images are NHWC, (N, height, width, channels), chosen by measurement: unfolding a 28x28x32 batch
of 128 for a 3x3 convolution takes ~11 ms in NHWC (the C values of a window are contiguous, so
the window matrix is a strided view copied in one go) against ~50-100 ms in NCHW here.
A convolutional network starts with Reshape(28, 28, 1), so it takes the same (N, 784) rows of
pixels as a dense network, and ends its image part with Flatten before the Dense layers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import SpecError, TrainingError
from .activations import ReLU
from .init import get_initializer
from .layers import Layer, as_rows, column_sums, per_feature


def _pair_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


@functools.lru_cache(maxsize=16)
def _band_index(k: int, s: int, wp: int, wo: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, xs), each (k, k, Wo): where a banded Conv2D's T holds W[i, j] for output column x
    (row i*Wp + x*s + j, column block x). Read-only, shared by every layer and thread."""
    i, j, x = np.meshgrid(np.arange(k), np.arange(k), np.arange(wo), indexing="ij")
    rows = i * wp + x * s + j
    rows.flags.writeable = x.flags.writeable = False
    return rows, x


#: the most filters and the longest padded row (Wp*C values) a layer is banded for by default
BAND_MAX_OUT, BAND_MAX_ROW = 16, 128
#: the fewest columns (b*O) a banded layer's matmul is cut down to (see Conv2D._band_blocks)
BAND_MIN_WIDTH = 64

#: k*k*C up to which the bias rides in the matmul as a column of ones (see Conv2D): measured
#: faster forward and backward for K = 9 and 25; for K = 288 the backward's dW is ~10% slower
BIAS_COLUMN_MAX = 32

#: im2col copies the windows of this many bytes' worth of images at a time and multiplies them
#: at once, so the copy is still in the core's cache when the matmul reads it (0: the whole
#: batch at once; see Conv2D._blocked_forward)
BLOCK_BYTES = 1 << 20


def _windows(Xp: np.ndarray, k: int, s: int, Ho: int, Wo: int) -> np.ndarray:
    """(N, Ho, Wo, k, k, C): every k x k window of the padded images Xp, a read-only strided
    view (no copy)."""
    sN, sH, sW, sC = Xp.strides
    return as_strided(Xp, (len(Xp), Ho, Wo, k, k, Xp.shape[3]), (sN, sH * s, sW * s, sH, sW, sC),
                      writeable=False)


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework), NHWC.

    Forward:   Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*s + i, x*s + j, c] * W[i, j, c, o]
               X:(N, H, W, C)  W:(k, k, C, O)  b:(O,)  Z:(N, Ho, Wo, O)   Xp: X zero-padded by p
               computed as one matmul: cols (N*Ho*Wo, k*k*C) @ W.reshape(k*k*C, O), where each row
               of cols is one k x k x C window of Xp ("im2col", a strided view copied once)
    Backward:  dW = cols.T @ dZ      db = sum over N, Ho, Wo of dZ
               dX, two ways to the same sum, picked by which moves less memory:
               - C >= O, stride 1: the convolution of dZ (padded by k-1-p) with W flipped in
                 space and its channels swapped (im2col of dZ, one matmul);
               - otherwise, per kernel offset (i, j): dX[:, y*s + i, x*s + j] += dZ @ W[i, j].T
                 (k*k small matmuls, each added back where its windows came from: "col2im")
    Windows of 5x5 or more, stride 1, few filters (LeNet-5's two layers; see ``_banded``): the
    same sums as one matmul over image *rows* instead ("banded"): R (N*Ho, k*Wp*C) holds, per
    output row, the k padded input rows it reads, and T (k*Wp*C, Wo*O) is W laid out as a band,
    T[(i*Wp + x*s + j)*C + c, x*O + o] = W[i, j, c, o], zero elsewhere. Z = R @ T does ~Wp/k
    times the multiply-adds of im2col but copies k times fewer values and runs as a well-shaped
    matmul where im2col's is narrow (O columns): for 28x28, 1 -> 6, 5x5 ~2x faster here, for
    LeNet-5's 12x12, 6 -> 16 a backward ~30% faster (bench/profile_layers.py). Backward:
    dT = R.T @ dZ, and dW the sum of dT over the places each W[i, j] was copied to;
    dR = dZ @ T.T added back row by row. Each output row is cut into G blocks of b = Wo/G
    columns (``_band_blocks``): a block reads span = (b-1)*s + k input columns, T is then
    (k*span*C, b*O), the same for every block, and R (N*Ho*G, k*span*C): the multiply-adds
    wasted on T's zeros fall from Wp/k to span/k times im2col's (LeNet-5's step: -28% with both
    layers banded in 2 blocks, against im2col for the second and 1 block for the first, 1 thread).
    ``band=True/False`` forces one way, ``band_blocks`` a G (tests: all give the same numbers).
    Where the im2col matmul is narrow (k*k*C <= BIAS_COLUMN_MAX: a first layer), cols has one
    more column of ones and W one more row, b: Z = [cols 1] @ [W; b] adds the bias inside the
    matmul instead of in a pass of its own over Z, and [cols 1].T @ dZ gives dW and db at once
    (measured: conv 1 -> 32 3x3 forward 2.6 -> 1.5 ms for 128 images, one thread).
    ``padding``: "same" (output as large as the input, for stride 1), "valid" (none), or pixels.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1,
                 padding: str | int = "same", init: str = "he", seed: int | None = 0,
                 dtype: Any = np.float32, band: bool | None = None) -> None:
        super().__init__()
        self.band = band  # None: banded where it is the faster way (see _banded)
        self.band_blocks: int | None = None  # None: chosen (see _band_blocks)
        self.c_in, self.c_out, self.kernel, self.stride = int(c_in), int(c_out), int(kernel), \
            int(stride)
        if min(self.c_in, self.c_out, self.kernel, self.stride) < 1:
            raise SpecError(f"Conv2D needs positive sizes, got {c_in}->{c_out} k={kernel} "
                            f"stride={stride}")
        if padding == "same":
            self.pad = (self.kernel - 1) // 2
        elif padding == "valid":
            self.pad = 0
        elif isinstance(padding, int) and padding >= 0:
            self.pad = padding
        else:
            raise SpecError(f"Conv2D padding must be 'same', 'valid' or a number, got {padding!r}")
        self.padding = padding
        self.init = init
        self._init_fn = get_initializer(init)
        self._buffers: dict[str, np.ndarray] = {}
        self.initialize(np.random.default_rng(seed), dtype)

    def initialize(self, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        k, c, o = self.kernel, self.c_in, self.c_out
        W = self._init_fn(k * k * c, o, rng).reshape(k, k, c, o).astype(dtype)  # fan_in = k*k*C
        self.params = {"W": W, "b": np.zeros(o, dtype)}
        self.grads = {name: np.zeros_like(v) for name, v in self.params.items()}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any,
                keep: bool = True) -> np.ndarray:
        """A work array kept between batches (training asks for the same shapes every batch);
        zero when first made, and then only ever partly overwritten where that is intended.
        ``keep=False``: a new array, kept nowhere (predicting: threads share the layer)."""
        if not keep:
            return np.zeros(shape, dtype)
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[name] = np.zeros(shape, dtype)
        return buf

    def _bias_column(self) -> bool:
        """Whether the bias rides in the matmul as a column of ones (see BIAS_COLUMN_MAX)."""
        return self.kernel * self.kernel * self.c_in <= BIAS_COLUMN_MAX

    def _with_ones(self, name: str, rows: int, cols: int, dtype: Any, keep: bool) -> np.ndarray:
        """A (cols + 1, rows) work array whose last row is 1 (the bias column, transposed)."""
        buf = (self._buffer(name, (cols + 1, rows), dtype) if keep
               else np.empty((cols + 1, rows), dtype))
        if not keep or not buf[cols, :1].all():  # a kept buffer: filled once (empty: nothing)
            buf[cols] = 1
        return buf

    def _weights_and_bias(self, W2: np.ndarray) -> np.ndarray:
        """[W2; b]: the weights as a matmul's right side with the bias as one more row."""
        return np.concatenate([W2, self.params["b"][None].astype(W2.dtype)])

    def _im2col(self, X: np.ndarray, k: int, s: int, p: int, tag: str,
                keep: bool = True, ones: bool = False) -> np.ndarray:
        """(N, H, W, C) -> (N*Ho*Wo, k*k*C): every k x k window of X zero-padded by p, one per
        row, ordered (i, j, c) like W.reshape(k*k*C, O). Reuses buffers between batches (not
        with ``keep=False``). ``ones``: with one more column, of ones (the bias column); then
        the array is the transpose of a contiguous (k*k*C + 1, N*Ho*Wo) one."""
        N, H, W_, C = X.shape
        Ho, Wo = _pair_out(H, k, s, p), _pair_out(W_, k, s, p)
        Xp = self._padded(X, p, tag, keep)
        if ones:
            full = self._with_ones(tag + "cols1", N * Ho * Wo, k * k * C, X.dtype, keep)
            self._window_rows(Xp, 0, 0, s, Ho, Wo, full[:-1])
            return full.T
        cols = (self._buffer(tag + "cols", (N, Ho, Wo, k, k, C), X.dtype) if keep
                else np.empty((N, Ho, Wo, k, k, C), X.dtype))  # every value written below
        if C == 1 and k <= 3:
            # one channel, small windows: copying offset by offset moves whole image rows at a
            # time, ~2x faster here than copying each window's 3 values (for 5x5 windows and
            # large batches its scattered writes are ~4x slower instead)
            for i in range(k):
                for j in range(k):
                    cols[:, :, :, i, j, :] = Xp[:, i:i + s * Ho:s, j:j + s * Wo:s, :]
        else:
            np.copyto(cols, _windows(Xp, k, s, Ho, Wo))
        return cols.reshape(N * Ho * Wo, k * k * C)

    def _window_rows(self, Xp: np.ndarray, y0: int, x0: int, step: int, Ho: int, Wo: int,
                     out: np.ndarray) -> None:
        """out (k*k*C, N*Ho*Wo), im2col transposed: row (i, j, c) holds Xp[n, y0 + y*step + i,
        x0 + x*step + j, c] for every output (n, y, x). Each row is one offset's whole shifted
        image, copied with contiguous writes (a 1 -> 32 3x3 forward on 37 images: 0.70 ->
        0.51 ms, one thread, against writing each window's values side by side)."""
        k, N, C = self.kernel, Xp.shape[0], Xp.shape[3]
        images = out.reshape(k, k, C, N, Ho, Wo)  # a view: out is contiguous
        for i in range(k):
            for j in range(k):
                for c in range(C):
                    images[i, j, c] = Xp[:, y0 + i:y0 + i + step * Ho:step,
                                         x0 + j:x0 + j + step * Wo:step, c]

    def _padded(self, X: np.ndarray, p: int, tag: str, keep: bool) -> np.ndarray:
        """X zero-padded by p on each side (X itself, contiguous, for p = 0)."""
        if not p:
            return np.ascontiguousarray(X)
        N, H, W_, C = X.shape
        # only the inside is written, so the border of a kept buffer stays zero
        Xp = self._buffer(tag + "pad", (N, H + 2 * p, W_ + 2 * p, C), X.dtype, keep)
        Xp[:, p:p + H, p:p + W_, :] = X
        return Xp

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if X.ndim != 4 or X.shape[3] != self.c_in:
            raise SpecError(f"Conv2D expects images (N, H, W, {self.c_in}), got {X.shape}")
        N, H, W_, C = X.shape
        k, s, p = self.kernel, self.stride, self.pad
        Ho, Wo = _pair_out(H, k, s, p), _pair_out(W_, k, s, p)
        if Ho < 1 or Wo < 1:
            raise SpecError(f"Conv2D kernel {k} does not fit images of {H}x{W_}")
        if self._banded(W_ + 2 * p):
            return self._band_forward(X, Ho, Wo, training)
        ones = self._bias_column()
        per = self._blocks(N, Ho * Wo * k * k * C * X.dtype.itemsize, ones)
        if per < N:
            return self._blocked_forward(X, per, Ho, Wo, training)
        cols = self._im2col(X, k, s, p, "x", keep=training, ones=ones)
        if training:
            self.cols, self.x_shape, self.rows = cols, X.shape, None
        W2 = self.params["W"].reshape(k * k * C, self.c_out)
        if ones:  # [cols 1] @ [W; b]
            Z = cols @ self._weights_and_bias(W2)
        else:
            Z = cols @ W2
            per_feature(np.add, Z, self.params["b"], out=Z)  # Z += b, in wide rows
        return Z.reshape(N, Ho, Wo, self.c_out)

    def windows_in_blocks(self, width: int) -> bool:
        """Whether predicting on images ``width`` wide copies this layer's windows a block of
        images at a time (``_blocked_forward``), so their copy does not grow with the batch:
        not with the bias column, not banded, not with BLOCK_BYTES 0."""
        return bool(BLOCK_BYTES) and not self._bias_column() and \
            not self._banded(width + 2 * self.pad)

    @staticmethod
    def _blocks(n: int, bytes_per_image: int, whole: bool) -> int:
        """Images per block of ``_blocked_forward``: n (no blocks) with the bias column (a first
        layer: narrow windows, few bytes) or BLOCK_BYTES 0."""
        if whole or not BLOCK_BYTES:
            return n
        return int(min(n, max(1, BLOCK_BYTES // max(bytes_per_image, 1))))

    def _blocked_forward(self, X: np.ndarray, per: int, Ho: int, Wo: int,
                         training: bool) -> np.ndarray:
        """The im2col forward, ``per`` images at a time: their windows copied, then one matmul
        into their rows of Z while the copy is still in the core's cache. The same sums as one
        im2col of the whole batch. Predicting, the copies go to one small buffer; training, to
        the whole batch's (backward needs every window for dW). Measured for cnn's 32 -> 64
        3x3 at 14x14, one thread, in blocks of 1 MiB (L2 here is 512 KB, L3 32 MB shared):
        predicting 4.5 -> 3.9 ms for 37 images and 16.4 -> 13.6 ms for 128; training's forward
        17.8 -> 16.1 ms for 128."""
        N, H, W_, C = X.shape
        k, s, p = self.kernel, self.stride, self.pad
        windows = _windows(self._padded(X, p, "x", training), k, s, Ho, Wo)
        W2 = self.params["W"].reshape(k * k * C, self.c_out)
        Z = np.empty((N * Ho * Wo, self.c_out), X.dtype)
        cols = (self._buffer("xcols", (N, Ho, Wo, k, k, C), X.dtype) if training
                else np.empty((per, Ho, Wo, k, k, C), X.dtype))
        for a in range(0, N, per):
            e = min(a + per, N)
            block = cols[a:e] if training else cols[:e - a]
            np.copyto(block, windows[a:e])
            np.matmul(block.reshape(-1, k * k * C), W2, out=Z[a * Ho * Wo:e * Ho * Wo])
        if training:
            self.cols, self.x_shape, self.rows = cols.reshape(-1, k * k * C), X.shape, None
        per_feature(np.add, Z, self.params["b"], out=Z)  # Z += b, in wide rows
        return Z.reshape(N, Ho, Wo, self.c_out)

    def pools_by_phase(self, pool: Layer, width: int) -> bool:
        """Whether ``pooled_forward`` computes this layer and ``pool`` after it by pooling
        phases, on images ``width`` wide: a MaxPool2D after a layer with the bias column (a
        first layer) that is not banded."""
        return (type(pool) is MaxPool2D and self._bias_column()
                and not self._banded(width + 2 * self.pad))

    def pooled_forward(self, X: np.ndarray, pool: MaxPool2D,
                       training: bool = False) -> np.ndarray:
        """pool.forward(self.forward(X)), the same numbers (see ``ConvPool``, and
        ``Network.forward`` for training), X:(N, H, W, C) -> (N, Ho//q, Wo//q, O) for a q x q
        max pool, computed by pooling phase: the outputs at (q*y + a, q*x + b) for one (a, b)
        are a convolution of stride q*s on windows shifted by (a*s, b*s), so each phase's
        outputs come out of the matmul contiguous and the pool is a maximum over q*q
        contiguous arrays (MaxPool2D's strided reads cost ~3x that here).
        - With the bias column (``pools_by_phase``): one matmul per phase (``_pooled_phases``),
          predicting and training.
        - Windows in blocks, predicting: each block's windows copied phase after phase, one
          matmul per block, the bias after the pool (``_pooled_blocks``).
        - Otherwise: the two layers one after the other."""
        if X.ndim == 4 and X.shape[3] == self.c_in and self.fuses_pool(pool, X.shape[2],
                                                                       training):
            if self.pools_by_phase(pool, X.shape[2]):
                return self._pooled_phases(X, pool.size, training)
            return self._pooled_blocks(X, pool.size)
        return pool.forward(self.forward(X, training), training)

    def fuses_pool(self, pool: Layer, width: int, training: bool = False) -> bool:
        """Whether ``pooled_forward`` computes this layer and ``pool`` together on images
        ``width`` wide, rather than as the two layers one after the other: by phases with the
        bias column (``pools_by_phase``), or predicting in phase-ordered blocks where the
        windows are copied in blocks (``windows_in_blocks``; a pool larger than 1x1)."""
        return self.pools_by_phase(pool, width) or (
            not training and type(pool) is MaxPool2D and pool.size > 1
            and self.windows_in_blocks(width))

    def _pooled_phases(self, X: np.ndarray, q: int, training: bool) -> np.ndarray:
        """``pooled_forward`` with the bias column: [cols 1] @ [W; b] once per phase, the
        running maximum over the phases. Training also keeps each phase's windows and which
        phase holds each maximum first (a strictly greater later phase takes it: the first
        in the block row by row, as MaxPool2D), for ``pooled_backward``."""
        N, H, W_, C = X.shape
        k, s, p, O = self.kernel, self.stride, self.pad, self.c_out
        Ho, Wo = _pair_out(H, k, s, p), _pair_out(W_, k, s, p)
        if min(Ho, Wo) < q:
            return MaxPool2D(q).forward(self.forward(X, training), training)  # their errors
        Hq, Wq = Ho // q, Wo // q
        Xp = self._padded(X, p, "x", keep=training)
        Wb = self._weights_and_bias(self.params["W"].reshape(k * k * C, O))
        rows = N * Hq * Wq
        if training:  # every phase's windows, kept for dW; their rows of ones written once
            phases = self._buffer("phases", (q * q, k * k * C + 1, rows), X.dtype)
            if not phases[:, -1, :1].all():
                phases[:, -1] = 1
            self.first = np.zeros((rows, O), np.uint8)  # the phase holding each maximum first
            self.phases, self.x_shape, self.cols, self.rows = phases, X.shape, None, None
        else:
            full = self._with_ones("", rows, k * k * C, X.dtype, keep=False)
        A = None
        for ph in range(q * q):
            a, b = divmod(ph, q)
            cols = phases[ph] if training else full
            self._window_rows(Xp, a * s, b * s, q * s, Hq, Wq, cols[:-1])
            Z = cols.T @ Wb
            if A is None:
                A = Z
                continue
            if training:
                np.copyto(self.first, ph, where=Z > A)
            np.maximum(A, Z, out=A)
        return A.reshape(N, Hq, Wq, O)

    def _pooled_blocks(self, X: np.ndarray, q: int) -> np.ndarray:
        """``pooled_forward`` predicting with windows in blocks (as ``_blocked_forward``): each
        block's windows copied phase after phase, so one matmul gives each image's q*q
        phases as contiguous slabs, pooled while still in the cache; the bias added after the
        pool, to 1/q^2 of the values (max(Z + b) = max(Z) + b). Measured on 2 threads,
        predicting in one process against the two layers: cnn 1.016x and 1.015x (21 and 11
        alternations), fast 1.03x (9); on one thread cnn's 32 -> 64 layer and pool 9.2-10.0
        -> 9.0 ms for 83 images. (Pooling each block with MaxPool2D instead measured slower
        than the two layers.)"""
        N, H, W_, C = X.shape
        k, s, p, O = self.kernel, self.stride, self.pad, self.c_out
        Ho, Wo = _pair_out(H, k, s, p), _pair_out(W_, k, s, p)
        Hq, Wq = Ho // q, Wo // q
        if Hq < 1 or Wq < 1:
            return MaxPool2D(q).forward(self.forward(X, False), False)  # their errors
        win = _windows(self._padded(X, p, "x", keep=False), k, s, Ho, Wo)
        s0, sy, sx, si, sj, sc = win.strides
        phases = as_strided(win, (N, q, q, Hq, Wq, k, k, C),
                            (s0, sy, sx, q * sy, q * sx, si, sj, sc), writeable=False)
        K = k * k * C
        per = self._blocks(N, Ho * Wo * K * X.dtype.itemsize, False)
        cols = np.empty((per, q, q, Hq, Wq, k, k, C), X.dtype)
        Z = np.empty((per, q * q, Hq * Wq * O), X.dtype)
        A = np.empty((N, Hq * Wq * O), X.dtype)
        W2 = self.params["W"].reshape(K, O)
        for a in range(0, N, per):
            e = min(a + per, N)
            np.copyto(cols[:e - a], phases[a:e])
            np.matmul(cols[:e - a].reshape(-1, K), W2, out=Z[:e - a].reshape(-1, O))
            np.maximum(Z[:e - a, 0], Z[:e - a, 1], out=A[a:e])
            for ph in range(2, q * q):
                np.maximum(A[a:e], Z[:e - a, ph], out=A[a:e])
        A2 = A.reshape(-1, O)
        per_feature(np.add, A2, self.params["b"], out=A2)  # A += b, after the pool
        return A.reshape(N, Hq, Wq, O)

    def pooled_backward(self, dA: np.ndarray) -> None:
        """The gradients of ``pooled_forward`` in training: dA goes to the phase that held each
        maximum first (dZ of that phase, 0 in the others), and [dW; db] = sum over the phases
        of [cols 1].T @ dZ. No dX: the layer must not need its input's gradient (a first
        layer; ``Network.forward`` fuses only those)."""
        if self.needs_input_grad:
            raise TrainingError("pooled_backward gives no dX: train the layer and its pool "
                                "one after the other where the input's gradient is needed")
        O = self.c_out
        dA2 = dA.reshape(-1, O)
        dZ = np.empty_like(dA2)
        dWb = np.zeros((self.phases.shape[1], O), dA.dtype)
        for ph in range(self.phases.shape[0]):
            np.multiply(dA2, self.first == ph, out=dZ)
            dWb += self.phases[ph] @ dZ
        self.grads["W"][...] = dWb[:-1].reshape(self.grads["W"].shape)
        self.grads["b"][...] = dWb[-1]

    def backward(self, dZ: np.ndarray) -> np.ndarray | None:
        N, H, W_, C = self.x_shape
        k, s, p, Co = self.kernel, self.stride, self.pad, self.c_out
        Ho, Wo = dZ.shape[1], dZ.shape[2]
        if self.rows is not None:
            return self._band_backward(dZ)
        dZ2 = dZ.reshape(-1, Co)
        if self.cols.shape[1] > k * k * C:  # the bias column: [dW; db] = [cols 1].T @ dZ
            dWb = self.cols.T @ dZ2
            self.grads["W"].reshape(k * k * C, Co)[...] = dWb[:-1]
            self.grads["b"][...] = dWb[-1]
        else:
            np.matmul(self.cols.T, dZ2, out=self.grads["W"].reshape(k * k * C, Co))
            column_sums(dZ2, out=self.grads["b"])  # db, as ones @ dZ (see column_sums)
        if not self.needs_input_grad:
            return None
        W = self.params["W"]
        if s == 1 and p <= k - 1 and C >= Co:
            # dX is itself a convolution: of dZ, padded by k-1-p, with W flipped in space and
            # its channels swapped. Its im2col copies N*H*W*k*k*O values: the cheaper way when
            # the layer does not widen the channels (28x28, 32 -> 32, 3x3: ~2x faster here).
            Wf = W[::-1, ::-1].transpose(0, 1, 3, 2).reshape(k * k * Co, C)
            dX = self._im2col(dZ, k, 1, k - 1 - p, "dz") @ Wf
            return dX.reshape(N, H, W_, C)
        # per kernel offset: k*k passes over N*Ho*Wo*C values, fewer when C < O (LeNet-5's
        # 6 -> 16 5x5: ~3x faster here than the convolution above); also any stride or padding
        dXp = np.zeros((N, H + 2 * p, W_ + 2 * p, C), dZ.dtype)
        D = self._buffer("dxij", (N * Ho * Wo, C), dZ.dtype)
        for i in range(k):  # a loop over the k*k kernel offsets, each a whole-batch matmul + add
            for j in range(k):
                np.matmul(dZ2, W[i, j].T, out=D)
                dXp[:, i:i + s * Ho:s, j:j + s * Wo:s, :] += D.reshape(N, Ho, Wo, C)
        return dXp[:, p:p + H, p:p + W_, :] if p else dXp

    # --- the banded way (see the class docstring) ---------------------------------------------
    def _banded(self, wp: int) -> bool:
        """Whether this layer convolves by rows: forced by ``band``, else for stride 1, windows
        of 5x5 or more, at most BAND_MAX_OUT filters and padded rows of at most BAND_MAX_ROW
        values (Wp*C: T grows with its square). Measured on one thread, 128 images: LeNet-5's
        1 -> 6 on 28x28 and 6 -> 16 on 12x12 train faster banded; 3x3 windows, stride 2, 24 or
        more filters (the im2col matmul is then well shaped) and wide rows are slower."""
        if self.band is not None:
            return self.band
        return (self.stride == 1 and self.kernel >= 5 and self.c_out <= BAND_MAX_OUT
                and wp * self.c_in <= BAND_MAX_ROW)

    def _band_matrix(self, span: int, bw: int) -> np.ndarray:
        """T (k*span*C, bw*O): W[i, j, c, :] at row (i*span + x*s + j)*C + c, columns x*O ..
        x*O + O - 1, for the bw output columns x of a block (its k rows of ``span`` inputs)."""
        k, C, O = self.kernel, self.c_in, self.c_out
        rows, xs = _band_index(k, self.stride, span, bw)
        W = self.params["W"]
        T = np.zeros((k * span, C, bw, O), W.dtype)
        T[rows, :, xs] = W[:, :, None]  # (k, k, 1, C, O): the same W[i, j] for every x
        return T.reshape(k * span * C, bw * O)

    def _band_blocks(self, wo: int) -> int:
        """G, the blocks each output row is cut into (a divisor of Wo): the most that still leave
        the matmul BAND_MIN_WIDTH columns (b*O). Fewer, wider blocks waste multiply-adds on T's
        zeros (~span/k times im2col's); more, narrower ones make a thin matmul."""
        if self.band_blocks is not None:
            return self.band_blocks if wo % self.band_blocks == 0 else 1
        return max(g for g in range(1, wo + 1)
                   if wo % g == 0 and (g == 1 or wo // g * self.c_out >= BAND_MIN_WIDTH))

    def _band_forward(self, X: np.ndarray, Ho: int, Wo: int, training: bool) -> np.ndarray:
        """Z = R @ T + b (see the class docstring)."""
        N, H, W_, C = X.shape
        k, s, p, O = self.kernel, self.stride, self.pad, self.c_out
        Hp, Wp = H + 2 * p, W_ + 2 * p
        if p:
            Xp = self._buffer("xpad", (N, Hp, Wp, C), X.dtype, keep=training)
            Xp[:, p:p + H, p:p + W_] = X
        else:
            Xp = np.ascontiguousarray(X)
        G = self._band_blocks(Wo)
        bw = Wo // G  # the width of a block (b in the class docstring)
        span = (bw - 1) * s + k  # the input columns a block of bw output columns reads
        sN, sH, sW, sC = Xp.strides  # a padded row is Wp*C contiguous values
        rows = (self._buffer("rows", (N, Ho, G, k, span * C), X.dtype) if training
                else np.empty((N, Ho, G, k, span * C), X.dtype))
        np.copyto(rows, as_strided(Xp, rows.shape, (sN, sH * s, sW * bw * s, sH, sC),
                                   writeable=False))
        R = rows.reshape(N * Ho * G, k * span * C)
        T = self._band_matrix(span, bw)
        if training:
            self.rows, self.band_T, self.x_shape = R, T, X.shape
        Z = R @ T
        Z += np.tile(self.params["b"], bw)
        return Z.reshape(N, Ho, Wo, O)

    def _band_backward(self, dZ: np.ndarray) -> np.ndarray | None:
        N, H, W_, C = self.x_shape
        k, s, p, O = self.kernel, self.stride, self.pad, self.c_out
        Ho, Wo = dZ.shape[1], dZ.shape[2]
        Wp = W_ + 2 * p
        G = self._band_blocks(Wo)
        bw = Wo // G
        span = (bw - 1) * s + k
        dZ2 = dZ.reshape(N * Ho * G, bw * O)
        dT = (self.rows.T @ dZ2).reshape(k * span, C, bw, O)
        rows, xs = _band_index(k, s, span, bw)
        self.grads["W"][...] = dT[rows, :, xs].sum(axis=2)  # every place W[i, j] was put
        colsum = column_sums(dZ2)
        self.grads["b"][:] = colsum.reshape(bw, O).sum(axis=0)
        if not self.needs_input_grad:
            return None
        dR = (dZ2 @ self.band_T.T).reshape(N, Ho, G, k, span * C)
        dXp = np.zeros((N, H + 2 * p, Wp * C), dZ.dtype)
        for i in range(k):  # each block's k input rows, added back where they came from
            for g in range(G):
                x0 = g * bw * s * C
                dXp[:, i:i + s * Ho:s, x0:x0 + span * C] += dR[:, :, g, i]
        dXp = dXp.reshape(N, H + 2 * p, Wp, C)
        return dXp[:, p:p + H, p:p + W_] if p else dXp

    def config(self) -> dict[str, Any]:
        return {"c_in": self.c_in, "c_out": self.c_out, "kernel": self.kernel,
                "stride": self.stride, "padding": self.padding, "init": self.init}


def _max_of(views: list[np.ndarray]) -> np.ndarray:
    """The elementwise maximum of equally shaped arrays (a new array)."""
    if len(views) == 1:
        return views[0].copy()
    out = np.maximum(views[0], views[1])
    for v in views[2:]:
        np.maximum(out, v, out=out)
    return out


def _first_max(views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The elementwise maximum of the views, and which view holds it first: (max, index), the
    index the smallest i with views[i] == max (bool for two views: True where only the second
    does; int32 otherwise)."""
    top = _max_of(views)
    if len(views) == 2:
        return top, views[1] > views[0]
    index = np.zeros(top.shape, np.int32)
    for i in range(len(views) - 1, -1, -1):  # downwards: the smallest i is written last
        index[views[i] == top] = i
    return top, index


def _route(d: np.ndarray, index: np.ndarray, outs: list[np.ndarray]) -> None:
    """outs[i] = d where index == i, else 0 (index as ``_first_max`` gives it). For two outputs
    the second is d * index and the first d minus that: exact, and no temporary arrays."""
    if len(outs) == 2:
        np.multiply(d, index, out=outs[1])
        np.subtract(d, outs[1], out=outs[0])
        return
    for i, out in enumerate(outs):
        np.multiply(d, index == i, out=out)


class MaxPool2D(Layer):
    """Max over non-overlapping size x size blocks (rows/columns that don't fill a block are
    dropped, as in PyTorch).

    Forward:   A[n, y, x, c] = max_{i, j < size} X[n, y*size + i, x*size + j, c]
               X:(N, H, W, C) -> A:(N, H//size, W//size, C)
    Backward:  dX = dA at the position of each block's maximum, 0 elsewhere. Where several
               values of a block tie for the maximum, only the first (row by row, as PyTorch)
               receives it: ties are common on digits, whose blank background makes a conv
               layer output its bias b over whole blocks, and giving dA to all k*k of them
               would count db k*k times there.
    """

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        if int(size) < 1:
            raise SpecError(f"pool size must be positive, got {size}")
        self.size = int(size)

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        N, H, W, C = X.shape
        k = self.size
        Ho, Wo = H // k, W // k
        if Ho < 1 or Wo < 1:
            raise SpecError(f"MaxPool2D({k}) needs images of at least {k}x{k}, got {H}x{W}")
        if training:
            return self._forward_keeping_argmax(X, Ho, Wo)
        # the max over the k rows of each block first (whole image rows, contiguous: it halves
        # the data at memory speed), then over the k columns: pairwise maxima of strided views,
        # ~3x faster here than Xb.max(axis=(2, 4)) (short inner loops of C values) and 15-40%
        # faster than the k*k views of the whole block at once
        Xr = X[:, :Ho * k].reshape(N, Ho, k, W * C)
        R = _max_of([Xr[:, :, i] for i in range(k)])
        Rc = R.reshape(N, Ho, W, C)[:, :, :Wo * k].reshape(N, Ho, Wo, k, C)
        return _max_of([Rc[:, :, :, j] for j in range(k)])

    def _forward_keeping_argmax(self, X: np.ndarray, Ho: int, Wo: int) -> np.ndarray:
        """Training: the same maxima, the same way, and where each block's first maximum (row
        by row) is: ``self.row`` (N, Ho, Wo*k*C), per column of a block the first row holding
        that column's maximum; ``self.col`` (N, Ho, Wo, C), the column holding the block's
        maximum in the earliest row (of those, the first)."""
        N, H, W, C = X.shape
        k = self.size
        Xr = X[:, :Ho * k, :Wo * k].reshape(N, Ho, k, Wo * k * C)
        R, self.row = _first_max([Xr[:, :, i] for i in range(k)])
        Rc = R.reshape(N, Ho, Wo, k, C)
        A = _max_of([Rc[:, :, :, j] for j in range(k)])
        rows = self.row.reshape(N, Ho, Wo, k, C)
        if k == 2:  # the second column only if it holds the maximum and (tied) in an earlier row
            earlier = np.greater(rows[:, :, :, 0], rows[:, :, :, 1])  # bools: r0 and not r1
            earlier &= np.equal(Rc[:, :, :, 1], Rc[:, :, :, 0])
            self.col = np.greater(Rc[:, :, :, 1], Rc[:, :, :, 0])
            self.col |= earlier
        else:  # the smallest (row, column) among the columns that hold the maximum
            order = np.full(A.shape, k * k, np.int32)
            self.col = np.zeros(A.shape, np.int32)
            for j in range(k):
                key = np.where(Rc[:, :, :, j] == A, rows[:, :, :, j] * k + j, k * k)
                earlier = key < order
                self.col[earlier] = j
                np.minimum(order, key, out=order)
        self.x_shape = X.shape
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        N, H, W, C = self.x_shape
        k = self.size
        Ho, Wo = dA.shape[1], dA.shape[2]
        dR = np.empty((N, Ho, Wo, k, C), dA.dtype)   # dA to the block's column ...
        _route(dA, self.col, [dR[:, :, :, j] for j in range(k)])
        dXr = np.empty((N, Ho, k, Wo * k * C), dA.dtype)  # ... and within it to its row
        _route(dR.reshape(N, Ho, Wo * k * C), self.row, [dXr[:, :, i] for i in range(k)])
        dX = dXr.reshape(N, Ho * k, Wo * k, C)
        if Ho * k != H or Wo * k != W:
            full = np.zeros(self.x_shape, dA.dtype)
            full[:, :Ho * k, :Wo * k, :] = dX
            return full
        return dX

    def config(self) -> dict[str, Any]:
        return {"size": self.size}


class AvgPool2D(MaxPool2D):
    """Mean over non-overlapping size x size blocks; ``size=0`` averages the whole image
    (global average pooling, (N, H, W, C) -> (N, 1, 1, C)).

    Forward:   A[n, y, x, c] = 1/size^2 * sum_{i, j} X[n, y*size + i, x*size + j, c]
    Backward:  dX = dA / size^2 spread over each block
    """

    def __init__(self, size: int = 2) -> None:
        Layer.__init__(self)
        if int(size) < 0:
            raise SpecError(f"pool size must be >= 0, got {size}")
        self.size = int(size)

    def _k(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return (shape[1], shape[2]) if self.size == 0 else (self.size, self.size)

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        N, H, W, C = X.shape
        kh, kw = self._k(X.shape)
        Ho, Wo = H // kh, W // kw
        if Ho < 1 or Wo < 1:
            raise SpecError(f"AvgPool2D({self.size}) does not fit images of {H}x{W}")
        if training:
            self.x_shape = X.shape
        return X[:, :Ho * kh, :Wo * kw, :].reshape(N, Ho, kh, Wo, kw, C).mean(axis=(2, 4))

    def backward(self, dA: np.ndarray) -> np.ndarray:
        N, H, W, C = self.x_shape
        kh, kw = self._k(self.x_shape)
        Ho, Wo = dA.shape[1], dA.shape[2]
        dX = np.zeros(self.x_shape, dA.dtype)
        block = dX[:, :Ho * kh, :Wo * kw, :].reshape(N, Ho, kh, Wo, kw, C)
        block[...] = (dA / (kh * kw))[:, :, None, :, None, :]
        return dX


class ConvPool(Layer):
    """Predicting only: a Conv2D, the MaxPool2D after it and, when one follows, a ReLU, as one
    layer (``fuse_pooling`` makes them for each evaluation pass; the network's layers stay as
    they are). The same numbers as the layers one after another:

        A = relu(maxpool(conv(X)))          (Conv2D.pooled_forward, then max(A, 0) in place)

    with the pool as the maximum of q*q contiguous matmul outputs, one per pooling phase, and
    the ReLU in place (see ``Conv2D.pooled_forward``). Holds nothing per call, so threads may
    share it."""

    def __init__(self, conv: Conv2D, pool: MaxPool2D, relu: bool = False) -> None:
        super().__init__()
        self.conv, self.pool, self.relu = conv, pool, relu

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            raise RuntimeError("ConvPool only predicts; train the network's own layers")
        A = self.conv.pooled_forward(X, self.pool)
        if self.relu:
            np.maximum(A, 0, out=A)
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        raise RuntimeError("ConvPool only predicts; train the network's own layers")

    def __repr__(self) -> str:
        return f"ConvPool({self.conv!r}, {self.pool!r}{', ReLU' if self.relu else ''})"


def fuse_pooling(layers: Sequence[Layer]) -> list[Layer]:
    """The layers of an evaluation pass with each Conv2D that a MaxPool2D directly follows,
    and the ReLU right after that pool if any, made one ConvPool. digitnet's own layer types
    only (a learner's subclass is left as it is). Measured on 2 threads, cnn predicting 5,000
    images, 11 alternations in one process: 1.04x with its first layer fused (see
    ``Conv2D._pooled_blocks`` for the second)."""
    out: list[Layer] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if (type(layer) is Conv2D and i + 1 < len(layers)
                and type(layers[i + 1]) is MaxPool2D):
            relu = i + 2 < len(layers) and type(layers[i + 2]) is ReLU
            out.append(ConvPool(layer, layers[i + 1], relu))
            i += 3 if relu else 2
        else:
            out.append(layer)
            i += 1
    return out


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C): a view, no copy. Backward reshapes dA back."""

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            self.x_shape = X.shape
        return as_rows(X)

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA.reshape(self.x_shape)


class Reshape(Layer):
    """(N, n_in) -> (N, *shape), e.g. rows of 784 pixels -> (N, 28, 28, 1) images."""

    def __init__(self, *dims: int, shape: tuple[int, ...] | list[int] | None = None) -> None:
        super().__init__()
        shape = tuple(shape) if shape is not None else dims
        if not shape or min(shape) < 1:
            raise SpecError(f"Reshape needs positive sizes, got {shape}")
        self.shape = tuple(int(s) for s in shape)
        self.n_in = int(np.prod(self.shape))

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        per_image = int(np.prod(X.shape[1:]))
        if per_image != self.n_in:
            raise SpecError(f"Reshape{self.shape} expects {self.n_in} values per image, "
                            f"got {per_image}")
        if training:
            self.x_shape = X.shape
        return X.reshape(len(X), *self.shape)

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA.reshape(self.x_shape)

    def config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def __repr__(self) -> str:
        return f"Reshape{self.shape}"
