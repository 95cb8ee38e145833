# A 784-32-10 network with the biases folded into the weights: a row of ones is padded onto the
# input of each layer, so w1 is (32, 785) and w2 is (10, 33); lower-case names, a `params` dict.
# (Written for digitnet's tests: the doctor must find nothing wrong with it.)
import numpy as np

sizes = [784, 32, 10]
X = np.loadtxt("train.csv", delimiter=",", skiprows=1)
y, X = X[:, 0].astype(int), X[:, 1:].T / 255.0


def add_ones(a):
    return np.vstack([np.ones((1, a.shape[1])), a])


def init(sizes):
    params = {}
    for i in range(1, len(sizes)):
        params["w" + str(i)] = np.random.randn(sizes[i], sizes[i - 1] + 1) * np.sqrt(2 / sizes[i - 1])
    return params


def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def forward(params, x):
    z1 = params["w1"] @ add_ones(x)
    a1 = np.maximum(z1, 0)
    z2 = params["w2"] @ add_ones(a1)
    a2 = softmax(z2)
    return z1, a1, z2, a2


def backward(params, x, y, z1, a1, a2):
    m = x.shape[1]
    dz2 = a2.copy()
    dz2[y, np.arange(m)] -= 1
    dw2 = dz2 @ add_ones(a1).T / m
    dz1 = (params["w2"][:, 1:].T @ dz2) * (z1 > 0)
    dw1 = dz1 @ add_ones(x).T / m
    return {"dw1": dw1, "dw2": dw2}


def train(x, y, lr=0.1, epochs=100):
    params = init(sizes)
    for epoch in range(epochs):
        z1, a1, z2, a2 = forward(params, x)
        grads = backward(params, x, y, z1, a1, a2)
        for k in params:
            params[k] -= lr * grads["d" + k]
    return params


params = train(X, y)
