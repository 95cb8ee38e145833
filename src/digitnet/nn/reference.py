"""The textbook readings of digitnet's layers, loss and optimizers: plain, slow and readable, in
the course notebooks' notation. Read them next to the fast ones; ``tests/test_reference.py``
checks that both give the same numbers (to ~1e-10 in float64).

The notebooks store one example per COLUMN; digitnet stores one example per ROW (batch-first,
as NumPy, PyTorch and Keras do), so each of digitnet's dense formulas is the transpose of the
notebooks' one:

    notebooks (this file)                        digitnet (nn/layers.py, nn/losses.py)
    X:(n_in, m)    one example per column        X = X_nb.T           (m, n_in)
    W:(n_out, n_in)                              W = W_nb.T           (n_in, n_out)
    b:(n_out, 1)                                 b = b_nb.ravel()     (n_out,)
    Z = W @ X + b                  (n_out, m)    Z = X @ W + b        = Z_nb.T
    A = softmax(Z) over axis=0 (classes)         softmax over axis=1  = A_nb.T
    Y:(C, m) one-hot columns                     y:(m,) class numbers
    dZ = A - Y                     (the cost)    dZ = (A - Y) / m     (the loss's backward)
    dW = 1/m dZ @ X.T                            dW = X.T @ dZ        = dW_nb.T
    db = 1/m sum(dZ, axis=1, keepdims=True)      db = dZ.sum(axis=0)  = db_nb.ravel()
    dA_prev = W.T @ dZ                           dX = dZ @ W.T        = dA_prev_nb.T / m

Where the 1/m lives: the notebooks' dZ = A - Y is m times the gradient of the cost J (the mean
loss), and each dW and db divides by m. digitnet's loss returns the gradient of J itself,
dZ = (A - Y) / m, so no layer divides by m again. The parameter gradients are the same numbers;
the notebooks' dA_prev (and every dZ before it) is m times digitnet's dX.

Convolutions and pooling are batch-first in the notebooks too: A:(m, n_H, n_W, n_C),
W:(f, f, n_C_prev, n_C), b:(1, 1, 1, n_C), the layout of digitnet's Conv2D (NHWC, with b:(n_C,)).
Here they are direct loops over examples and output positions; digitnet's Conv2D copies every
window into one matrix (im2col) and does one matmul. Their dZ / dA is whatever comes from the
layer above, so there is no 1/m in them: the same numbers in both.
"""

from __future__ import annotations

import numpy as np

# --- dense layer: Z = W X + b -------------------------------------------------------------------


def dense_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray
                  ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Z = W @ A_prev + b.   A_prev:(n_in, m)  W:(n_out, n_in)  b:(n_out, 1)  ->  Z:(n_out, m).

    Returns Z and the cache (A_prev, W) that the backward needs."""
    Z = W @ A_prev + b
    return Z, (A_prev, W)


def dense_backward(dZ: np.ndarray, cache: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dZ:(n_out, m), m times dJ/dZ (as the cost's backward gives it)  ->  (dA_prev, dW, db):

        dW = 1/m dZ @ A_prev.T                        (n_out, n_in)
        db = 1/m sum(dZ, axis=1, keepdims=True)       (n_out, 1)
        dA_prev = W.T @ dZ                            (n_in, m)
    """
    A_prev, W = cache
    m = A_prev.shape[1]
    dW = 1 / m * dZ @ A_prev.T
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


# --- ReLU --------------------------------------------------------------------------------------


def relu_forward(Z: np.ndarray) -> np.ndarray:
    """A = max(0, Z), elementwise; any shape."""
    return np.maximum(0, Z)


def relu_backward(dA: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """dZ = dA * g'(Z), where g'(Z) = 1 if Z > 0 else 0."""
    return dA * (Z > 0)


# --- softmax and cross-entropy ------------------------------------------------------------------


def softmax(Z: np.ndarray) -> np.ndarray:
    """A[:, i] = exp(Z[:, i]) / sum_k exp(Z[k, i])   Z, A:(C, m): each COLUMN (one example)
    sums to 1, so the sums run over axis=0. Subtracting each column's maximum first changes
    nothing but keeps exp() from overflowing."""
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return E / np.sum(E, axis=0, keepdims=True)


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class numbers y:(m,) -> Y:(C, m) with Y[y[i], i] = 1 (one-hot columns)."""
    Y = np.zeros((n_classes, len(y)))
    Y[y, np.arange(len(y))] = 1
    return Y


def cross_entropy_cost(A: np.ndarray, Y: np.ndarray) -> float:
    """J = -1/m sum_i sum_k Y[k, i] log A[k, i]     A, Y:(C, m): the mean over the m examples."""
    m = Y.shape[1]
    return float(-1 / m * np.sum(Y * np.log(A)))


def softmax_cross_entropy_backward(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """dZ = A - Y   (C, m): the gradient of the SUM of the m losses w.r.t. Z, which is m times
    dJ/dZ; dense_backward divides by m. (digitnet's loss returns (A - Y) / m instead.)"""
    return A - Y


# --- Conv2D by direct loops ---------------------------------------------------------------------


def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """(m, n_H, n_W, n_C) -> (m, n_H + 2 pad, n_W + 2 pad, n_C), zeros around each image."""
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def conv_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                 pad: int = 0) -> tuple[np.ndarray, tuple]:
    """Z[i, h, w, c] = sum(a_slice * W[:, :, :, c]) + b[c], for a_slice the f x f x n_C_prev
    window of the padded A_prev starting at (h * stride, w * stride).

    A_prev:(m, n_H_prev, n_W_prev, n_C_prev)  W:(f, f, n_C_prev, n_C)  b:(1, 1, 1, n_C)
    Z:(m, n_H, n_W, n_C) with n_H = (n_H_prev + 2 pad - f) // stride + 1 (n_W likewise)."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vert, horiz = h * stride, w * stride
                a_slice = A_prev_pad[i, vert:vert + f, horiz:horiz + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = np.sum(a_slice * W[:, :, :, c]) + b[0, 0, 0, c]
    return Z, (A_prev, W, b, stride, pad)


def conv_backward(dZ: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each output Z[i, h, w, c] came from one window: the window's gradient gets W[..., c] times
    dZ[i, h, w, c], W[..., c] gets the window times dZ[i, h, w, c], b[c] gets dZ[i, h, w, c].

    dZ:(m, n_H, n_W, n_C) -> dA_prev:(m, n_H_prev, n_W_prev, n_C_prev), dW:(f, f, n_C_prev,
    n_C), db:(1, 1, 1, n_C). Sums over the batch, no 1/m: dZ comes from the layer above."""
    A_prev, W, b, stride, pad = cache
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros(A_prev_pad.shape)
    dW, db = np.zeros(W.shape), np.zeros(b.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vert, horiz = h * stride, w * stride
                a_slice = A_prev_pad[i, vert:vert + f, horiz:horiz + f, :]
                da_slice = dA_prev_pad[i, vert:vert + f, horiz:horiz + f, :]  # a view
                for c in range(n_C):
                    da_slice += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    dA_prev = dA_prev_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :]
    return dA_prev, dW, db


# --- max pooling by direct loops ----------------------------------------------------------------


def pool_forward(A_prev: np.ndarray, f: int = 2, stride: int | None = None) -> np.ndarray:
    """A[i, h, w, c] = max of the f x f window of A_prev[i, :, :, c] at (h * stride, w * stride).

    A_prev:(m, n_H_prev, n_W_prev, n_C) -> A:(m, n_H, n_W, n_C), n_H = (n_H_prev - f) // stride
    + 1; stride defaults to f (non-overlapping windows, as digitnet's MaxPool2D)."""
    stride = stride or f
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert, horiz = h * stride, w * stride
                    A[i, h, w, c] = np.max(A_prev[i, vert:vert + f, horiz:horiz + f, c])
    return A


def pool_backward(dA: np.ndarray, A_prev: np.ndarray, f: int = 2,
                  stride: int | None = None) -> np.ndarray:
    """Each window's gradient dA[i, h, w, c] goes to the position of its maximum; every other
    position gets 0. dA_prev has A_prev's shape. Where values tie for the maximum, only the
    first (row by row: np.argmax) gets it. The common mask = (window == max(window)) gives it
    to every tied position, and ties are everywhere on a digit's blank background (a conv
    layer outputs its bias over whole windows): there that counts db up to f*f times."""
    stride = stride or f
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vert, horiz = h * stride, w * stride
                    window = A_prev[i, vert:vert + f, horiz:horiz + f, c]
                    y, x = np.unravel_index(np.argmax(window), window.shape)  # the first max
                    dA_prev[i, vert + y, horiz + x, c] += dA[i, h, w, c]
    return dA_prev


# --- batch normalization ------------------------------------------------------------------------


def batchnorm_forward(Z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
                      ) -> tuple[np.ndarray, tuple]:
    """Training mode, per feature (row) over the m examples of the batch:

        mu = 1/m sum_i Z[:, i]                      (n, 1)
        var = 1/m sum_i (Z[:, i] - mu)**2           (n, 1)
        Z_norm = (Z - mu) / sqrt(var + eps)         (n, m)
        Z_tilde = gamma * Z_norm + beta             gamma, beta:(n, 1)

    The running averages used at evaluation time are updated from mu and var with
    ``batchnorm_running``. (For images, (m, H, W, C), each channel is one feature and its
    m*H*W values are the columns: Z = A.reshape(-1, C).T.)"""
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    Z_tilde = gamma * Z_norm + beta
    return Z_tilde, (Z, Z_norm, mu, var, gamma, eps)


def batchnorm_backward(dZ_tilde: np.ndarray, cache: tuple
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chain rule through the four lines of the forward, one at a time:

        dgamma = sum_i dZ_tilde * Z_norm            dbeta = sum_i dZ_tilde          (n, 1)
        dZ_norm = dZ_tilde * gamma
        dvar = sum_i dZ_norm * (Z - mu) * -1/2 (var + eps)**(-3/2)
        dmu = sum_i dZ_norm * -1 / sqrt(var + eps) + dvar * 1/m sum_i -2 (Z - mu)
        dZ = dZ_norm / sqrt(var + eps) + dvar * 2 (Z - mu) / m + dmu / m

    Returns (dZ, dgamma, dbeta). Sums over the batch, no 1/m: dZ_tilde comes from above.
    (digitnet's BatchNorm computes the same dZ with these sums folded into one line.)"""
    Z, Z_norm, mu, var, gamma, eps = cache
    m = Z.shape[1]
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * gamma
    dvar = np.sum(dZ_norm * (Z - mu) * -0.5 * (var + eps) ** -1.5, axis=1, keepdims=True)
    dmu = (np.sum(dZ_norm * -1 / np.sqrt(var + eps), axis=1, keepdims=True)
           + dvar * np.mean(-2 * (Z - mu), axis=1, keepdims=True))
    dZ = dZ_norm / np.sqrt(var + eps) + dvar * 2 * (Z - mu) / m + dmu / m
    return dZ, dgamma, dbeta


def batchnorm_running(running: np.ndarray, batch_value: np.ndarray,
                      momentum: float = 0.9) -> np.ndarray:
    """running = momentum * running + (1 - momentum) * batch_value (for the mean and the
    variance), the averages BatchNorm uses at evaluation time instead of the batch's."""
    return momentum * running + (1 - momentum) * batch_value


# --- one step of each optimizer -----------------------------------------------------------------
# W is any parameter (a weight matrix or a bias), dW its gradient, lr the learning rate. Each
# function returns the new values instead of changing its arguments; digitnet's optimizers do
# the same arithmetic in place. Weight decay (L2, for weights, not biases): SGD and Momentum add
# wd * W to the gradient; Adam takes it off W directly (decoupled, "AdamW").


def sgd_step(W: np.ndarray, dW: np.ndarray, lr: float, weight_decay: float = 0.0) -> np.ndarray:
    """W = W - lr * dW   (with weight decay: dW + wd * W in place of dW)"""
    dW = dW + weight_decay * W
    return W - lr * dW


def momentum_step(W: np.ndarray, dW: np.ndarray, v: np.ndarray, lr: float, beta: float = 0.9,
                  weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """v = beta * v + dW;   W = W - lr * v      (v starts at 0) -> (W, v).

    This is digitnet's (and PyTorch's) form. The course writes v = beta * v + (1 - beta) * dW;
    its v is (1 - beta) times this one, so the course's learning rate alpha is digitnet's
    lr = alpha * (1 - beta): the same steps (``momentum_step_course``)."""
    dW = dW + weight_decay * W
    v = beta * v + dW
    return W - lr * v, v


def momentum_step_course(W: np.ndarray, dW: np.ndarray, v: np.ndarray, alpha: float,
                         beta: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The course's form: v = beta * v + (1 - beta) * dW;   W = W - alpha * v   -> (W, v)."""
    v = beta * v + (1 - beta) * dW
    return W - alpha * v, v


def adam_step(W: np.ndarray, dW: np.ndarray, v: np.ndarray, s: np.ndarray, t: int, lr: float,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step t = 1, 2, ... (v and s start at 0) -> (W, v, s):

        v = beta1 * v + (1 - beta1) * dW             first moment: a running mean of dW
        s = beta2 * s + (1 - beta2) * dW**2          second moment: of dW squared
        v_corrected = v / (1 - beta1**t)             bias corrections: v and s start at 0, so
        s_corrected = s / (1 - beta2**t)             early on they are too small by these factors
        W = W - lr * v_corrected / (sqrt(s_corrected) + eps)

    (digitnet's Adam calls v and s m and v, and folds the two corrections into one step size.)"""
    v = beta1 * v + (1 - beta1) * dW
    s = beta2 * s + (1 - beta2) * dW**2
    v_corrected = v / (1 - beta1**t)
    s_corrected = s / (1 - beta2**t)
    W = W * (1 - lr * weight_decay)
    return W - lr * v_corrected / (np.sqrt(s_corrected) + eps), v, s


# --- deskewing one image (nn/resample.py's Deskew does a batch at once) -------------------------


def deskew_image(image: np.ndarray, max_skew: float = 1.0) -> np.ndarray:
    """One (H, W) image sheared upright and moved so its centre of mass is the image's centre:
    sums over its pixels for the moments, then each output pixel read from four input pixels."""
    image = np.asarray(image, np.float64)
    H, W = image.shape
    ink = np.maximum(image, 0)
    m = cy = cx = 0.0
    for y in range(H):
        for x in range(W):
            m += ink[y, x]
            cy += ink[y, x] * y
            cx += ink[y, x] * x
    c0, c1 = (H - 1) / 2, (W - 1) / 2
    if m <= 1e-6:
        cy, cx, a = c0, c1, 0.0
    else:
        cy, cx = cy / m, cx / m
        vy = cxy = 0.0
        for y in range(H):
            for x in range(W):
                vy += ink[y, x] * (y - cy) ** 2 / m
                cxy += ink[y, x] * (y - cy) * (x - cx) / m
        a = min(max(cxy / vy, -max_skew), max_skew) if vy > 1e-3 else 0.0

    def pixel(y: int, x: int) -> float:
        return float(image[y, x]) if 0 <= y < H and 0 <= x < W else 0.0

    out = np.zeros((H, W))
    for y in range(H):
        for x in range(W):
            qy, qx = y + cy - c0, x + a * (y - c0) + cx - c1  # where output (y, x) reads from
            y0, x0 = int(np.floor(qy)), int(np.floor(qx))
            fy, fx = qy - y0, qx - x0
            out[y, x] = ((1 - fy) * (1 - fx) * pixel(y0, x0) + (1 - fy) * fx * pixel(y0, x0 + 1)
                         + fy * (1 - fx) * pixel(y0 + 1, x0) + fy * fx * pixel(y0 + 1, x0 + 1))
    return out
