# A 784-64-32-10 network in the style of the deep-learning course's "planar data" assignment:
# a `parameters` dict, a `cache` dict, a `grads` dict, one-hot labels Y of shape (10, m) and a
# compute_cost function. (Written for digitnet's tests: the doctor must find nothing wrong.)
import numpy as np

n_x, n_h1, n_h2, n_y = 784, 64, 32, 10


def initialize_parameters(n_x, n_h1, n_h2, n_y):
    W1 = np.random.randn(n_h1, n_x) * np.sqrt(2.0 / n_x)
    b1 = np.zeros((n_h1, 1))
    W2 = np.random.randn(n_h2, n_h1) * np.sqrt(2.0 / n_h1)
    b2 = np.zeros((n_h2, 1))
    W3 = np.random.randn(n_y, n_h2) * np.sqrt(2.0 / n_h2)
    b3 = np.zeros((n_y, 1))
    parameters = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}
    return parameters


def relu(Z):
    return np.maximum(0, Z)


def relu_derivative(Z):
    return (Z > 0).astype(float)


def softmax(Z):
    t = np.exp(Z - Z.max(axis=0, keepdims=True))
    return t / t.sum(axis=0, keepdims=True)


def forward_propagation(X, parameters):
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = softmax(Z3)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "Z3": Z3, "A3": A3}
    return A3, cache


def compute_cost(A3, Y):
    m = Y.shape[1]
    cost = -np.sum(Y * np.log(A3)) / m
    return float(np.squeeze(cost))


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2, W3 = parameters["W2"], parameters["W3"]
    A1, A2, A3 = cache["A1"], cache["A2"], cache["A3"]
    Z1, Z2 = cache["Z1"], cache["Z2"]
    dZ3 = A3 - Y
    dW3 = np.dot(dZ3, A2.T) / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dZ2 = np.dot(W3.T, dZ3) * relu_derivative(Z2)
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(W2.T, dZ2) * relu_derivative(Z1)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}
    return grads


def update_parameters(parameters, grads, learning_rate=0.1):
    new = {}
    for key in parameters:
        new[key] = parameters[key] - learning_rate * grads["d" + key]
    return new


def nn_model(X, Y, num_iterations=1000, learning_rate=0.1, print_cost=False):
    parameters = initialize_parameters(n_x, n_h1, n_h2, n_y)
    for i in range(num_iterations):
        A3, cache = forward_propagation(X, parameters)
        cost = compute_cost(A3, Y)
        grads = backward_propagation(parameters, cache, X, Y)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 100 == 0:
            print(f"Cost after iteration {i}: {cost:.4f}")
    return parameters


if __name__ == "__main__":
    from keras.datasets import mnist

    (x_train, y_train), _ = mnist.load_data()
    X = x_train.reshape(len(x_train), -1).T / 255.0
    Y = np.eye(10)[y_train].T
    parameters = nn_model(X, Y, print_cost=True)
