"""An independent oracle for the exercise tests: one update of an exercise in plain Python loops.

Written from the reference, not from the package: every sum is a loop over units and samples,
every activation uses ``math``. ``student`` makes the update the way a student with one mistake
makes it (applied wherever that student would apply it), so the grader's diagnosis can be tested
against answers it did not compute itself.
"""

import math

# the mistakes a simulated student makes, and the misconception the grader should name
STUDENTS = {
    "no_gprime": "no_gprime",
    "updated_weights": "updated_weights",
    "sign": "sign",
    "sign_update": "sign",
    "mean_missing": "mean_missing",
    "mean_twice": "mean_twice",
    "h_for_a": "h_for_a",
    "h_for_a_grad": "h_for_a",
    "a_for_h": "a_for_h",
    "no_bias": "no_bias",
    "sigmoid_derivative": "sigmoid_derivative",
    "lr_twice": "lr_twice",
}


def g(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z))
    if name == "tanh":
        return math.tanh(z)
    if name == "relu":
        return z if z > 0 else 0.0
    return z


def softmax(row):
    mx = max(row)
    e = [math.exp(v - mx) for v in row]
    s = sum(e)
    return [v / s for v in e]


def true_gprime(name, h):
    """g'(h) from h itself."""
    if name == "sigmoid":
        s = g("sigmoid", h)
        return s * (1 - s)
    if name == "tanh":
        return 1 - math.tanh(h) ** 2
    if name == "relu":
        return 1.0 if h > 0 else 0.0
    return 1.0


def student_gprime(name, h, a, mistake):
    if mistake == "no_gprime":
        return 1.0
    if mistake == "sigmoid_derivative" and name != "sigmoid":
        return a * (1 - a)
    if mistake == "a_for_h":
        return true_gprime(name, a)
    return true_gprime(name, h)


def update(p, mistake=None, delta_out_shift=None, h_hidden_shift=None, round_to=None):
    """Every quantity of problem ``p`` (the key's JSON) as nested lists; ``mistake`` a key of STUDENTS.

    ``delta_out_shift``/``h_hidden_shift``: add this to the first output error term / the first
    hidden h of the first sample and carry the wrong value on correctly (a follow-through student).
    ``round_to``: a student working by hand, who rounds every value to that many decimals as soon as
    it is computed (h, a, g', δ, ∂E/∂w, the new weights) and goes on with the rounded value.
    """

    def r(v):
        return v if round_to is None else round(v, round_to)

    W, B = p["weights"], p["biases"]
    X, Y = p["x"], p["y"]
    L, M, N = p["sizes"]
    m = len(X)
    hid, out, loss, lr = p["hidden"], p["output"], p["loss"], p["lr"]
    mean = {"mean_missing": 1.0, "mean_twice": 1.0 / (m * m)}.get(mistake, 1.0 / m)
    use_bias = mistake != "no_bias"
    H1, A1, H2, A2, D1, D2 = [], [], [], [], [], []
    E = 0.0
    for d in range(m):
        h1 = []
        for j in range(M):
            s = B[0][j] if use_bias else 0.0
            for i in range(L):
                s += X[d][i] * W[0][i][j]
            h1.append(r(s))
        if h_hidden_shift is not None and d == 0:
            h1[0] += h_hidden_shift
        a1 = [r(g(hid, v)) for v in h1]
        inp = h1 if mistake == "h_for_a" else a1
        h2 = []
        for k in range(N):
            s = B[1][k] if use_bias else 0.0
            for j in range(M):
                s += inp[j] * W[1][j][k]
            h2.append(r(s))
        a2 = [r(v) for v in (softmax(h2) if out == "softmax" else [g(out, v) for v in h2])]
        for k in range(N):
            if loss == "mse":
                E += (Y[d][k] - a2[k]) ** 2 / 2
            elif loss == "binary_cross_entropy":
                E -= Y[d][k] * math.log(a2[k]) + (1 - Y[d][k]) * math.log(1 - a2[k])
            else:
                E -= Y[d][k] * math.log(a2[k])
        H1.append(h1)
        A1.append(a1)
        H2.append(h2)
        A2.append(a2)
    E = r(E * mean)
    # the output error terms, eq. (2)
    for d in range(m):
        d2 = []
        for k in range(N):
            diff = A2[d][k] - Y[d][k]
            if mistake == "sign":
                diff = -diff
            if loss == "mse":
                diff *= r(student_gprime(out, H2[d][k], A2[d][k], mistake))
            d2.append(r(diff))
        if delta_out_shift is not None and d == 0:
            d2[0] += delta_out_shift
        D2.append(d2)
    a_in = [[H1[d][j] if mistake == "h_for_a_grad" else A1[d][j] for j in range(M)] for d in range(m)]
    if mistake == "h_for_a":
        a_in = H1
    GW1 = [[r(sum(a_in[d][j] * D2[d][k] for d in range(m)) * mean) for k in range(N)] for j in range(M)]
    GB1 = [r(sum(D2[d][k] for d in range(m)) * mean) for k in range(N)]
    W1_used = W[1]
    if mistake == "updated_weights":
        W1_used = [[W[1][j][k] - lr * GW1[j][k] for k in range(N)] for j in range(M)]
    # the hidden error terms, eq. (4)
    for d in range(m):
        d1 = []
        for j in range(M):
            s = 0.0
            for k in range(N):
                s += D2[d][k] * W1_used[j][k]
            d1.append(r(r(student_gprime(hid, H1[d][j], A1[d][j], mistake)) * s))
        D1.append(d1)
    GW0 = [[r(sum(X[d][i] * D1[d][j] for d in range(m)) * mean) for j in range(M)] for i in range(L)]
    GB0 = [r(sum(D1[d][j] for d in range(m)) * mean) for j in range(M)]
    step = {"lr_twice": lr * lr}.get(mistake, lr)
    sign = 1.0 if mistake == "sign_update" else -1.0
    WA = [
        [[r(W[0][i][j] + sign * step * GW0[i][j]) for j in range(M)] for i in range(L)],
        [[r(W[1][j][k] + sign * step * GW1[j][k]) for k in range(N)] for j in range(M)],
    ]
    BA = [
        [r(B[0][j] + sign * step * GB0[j]) for j in range(M)],
        [r(B[1][k] + sign * step * GB1[k]) for k in range(N)],
    ]
    if mistake == "no_bias":
        BA = [list(B[0]), list(B[1])]
    out_ = {
        "h": [H1, H2],
        "a": [A1, A2],
        "yhat": A2,
        "E": E,
        "delta": [D1, D2],
        "grad_weights": [GW0, GW1],
        "grad_biases": [GB0, GB1],
        "weights_after": WA,
        "biases_after": BA,
    }
    if mistake == "no_bias":
        del out_["grad_biases"]  # a student who leaves the bias out computes no bias gradient
    return out_


def flat(v, path=()):
    """(index path, number) of every entry of a nested list (or a number)."""
    if isinstance(v, list):
        for i, x in enumerate(v):
            yield from flat(x, path + (i,))
    else:
        yield path, float(v)
