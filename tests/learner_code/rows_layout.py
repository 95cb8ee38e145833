# A 784-48-10 network with examples as rows, as in Keras or digitnet itself: X (m, 784),
# W1 (784, 48), b1 (1, 48), tanh in the hidden layer, one-hot labels Y (m, 10), and a cost that
# takes the labels as class numbers. (Written for digitnet's tests: the doctor must find nothing.)
import numpy as np

X_train = np.load("mnist_x.npy").reshape(-1, 784) / 255.0


def init_params():
    W1 = np.random.randn(784, 48) * np.sqrt(1 / 784)
    b1 = np.zeros((1, 48))
    W2 = np.random.randn(48, 10) * np.sqrt(1 / 48)
    b2 = np.zeros((1, 10))
    return W1, b1, W2, b2


def softmax(Z):
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(X, W1, b1, W2, b2):
    Z1 = X @ W1 + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2 + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def backward(X, Y, Z1, A1, A2, W2):
    m = X.shape[0]
    dZ2 = A2 - Y
    dW2 = A1.T @ dZ2 / m
    db2 = dZ2.sum(axis=0, keepdims=True) / m
    dZ1 = dZ2 @ W2.T * (1 - A1 ** 2)
    dW1 = X.T @ dZ1 / m
    db1 = dZ1.sum(axis=0, keepdims=True) / m
    return dW1, db1, dW2, db2


def update(W1, b1, W2, b2, dW1, db1, dW2, db2, lr=0.5):
    return W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2


def loss(A2, y):
    return -np.mean(np.log(A2[np.arange(len(y)), y]))
