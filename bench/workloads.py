"""The benchmark's workloads: one network, data set, batch size, optimizer, dtype and job each.

Every framework of a workload does exactly this job: the same layer sizes and activations, the
same loss (softmax + cross-entropy for the classifiers; sigmoid + the reference's squared error
for XOR), the same optimizer and learning rate (plain SGD, no momentum or weight decay, unless
``optimizer`` says otherwise), the same batch size and dtype.

Kinds of job (``kind``):

* ``train``: ``run(n)`` trains one epoch over n samples (XOR: n/4 epochs of the 4 samples);
  n is sized by the worker so a run takes about ``--target`` seconds, unless ``fixed_n`` fixes it
  (the Adam workload: one whole epoch of 60,000 rows).
* ``predict``: ``run(n)`` computes the outputs of ``fixed_n`` rows, n / fixed_n times.
* ``estimator``: ``run(n)`` is one ``MLPClassifier.fit`` (``epochs`` epochs over ``fixed_n``
  rows of the synthetic data set), backprop's estimator against scikit-learn's.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple
    hidden: str  # "relu" or "sigmoid"
    output: str  # "softmax" or "sigmoid"
    loss: str  # backprop's loss name
    batch: int
    dtype: str
    lr: float
    data: str  # "mnist" (Fashion-MNIST images), "xor" or "synthetic" (20,000 x 100, 10 classes)
    #: samples of the memory job (one epoch over this many samples, the same for every framework)
    memory_samples: int
    #: frameworks that take part (those installed; see bench.frameworks)
    frameworks: tuple = ("backprop", "torch", "sklearn", "gemm")
    kind: str = "train"  # "train", "predict" or "estimator"
    optimizer: str = "sgd"  # "sgd" (plain) or "adam" (beta_1 0.9, beta_2 0.999, epsilon 1e-8)
    #: samples of every run (0: sized to about --target seconds by the worker)
    fixed_n: int = 0
    #: epochs of one estimator fit
    epochs: int = 1
    #: PyTorch's Adam implementation: "fused", "foreach" or "for-loop"
    torch_adam: str = "fused"

    @property
    def label(self):
        arch = "-".join(str(s) for s in self.sizes)
        if len(self.sizes) > 6:
            arch = f"{self.sizes[0]}-{self.sizes[1]}x{len(self.sizes) - 2}-{self.sizes[-1]}"
        return arch

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["sizes"] = tuple(d["sizes"])
        d["frameworks"] = tuple(d.get("frameworks", cls.frameworks))
        return cls(**d)


def _mlp(batch, dtype):
    return Workload(name=f"mlp-b{batch}-{dtype}", sizes=(784, 256, 128, 10), hidden="relu", output="softmax",
                    loss="cross_entropy", batch=batch, dtype=dtype, lr=0.01, data="mnist",
                    memory_samples=min(60000, 200 * batch))


def _estimator(batch, epochs, rows=20000):
    return Workload(name=f"sklearn-fit-b{batch}", sizes=(100, 256, 128, 10), hidden="relu", output="softmax",
                    loss="log_loss", batch=batch, dtype="float32", lr=1e-3, data="synthetic",
                    memory_samples=rows, frameworks=("backprop", "sklearn", "gemm"), kind="estimator",
                    optimizer="adam", fixed_n=rows, epochs=epochs)


#: the reference's 2-4-1 example, online, with its squared error (eqs. (6)-(18))
XOR = Workload(name="xor-online", sizes=(2, 4, 1), hidden="sigmoid", output="sigmoid",
               loss="mse", batch=1, dtype="float32", lr=0.5, data="xor", memory_samples=4000,
               frameworks=("backprop", "python", "torch", "sklearn"))
DEEP = Workload(name="deep-b64", sizes=(784,) + (64,) * 10 + (10,), hidden="relu", output="softmax",
                loss="cross_entropy", batch=64, dtype="float32", lr=0.01, data="mnist",
                memory_samples=12800)
WIDE = Workload(name="wide-b256", sizes=(784, 2048, 10), hidden="relu", output="softmax",
                loss="cross_entropy", batch=256, dtype="float32", lr=0.01, data="mnist",
                memory_samples=51200)
ADAM = Workload(name="adam-b1024", sizes=(784, 512, 256, 10), hidden="relu", output="softmax",
                loss="cross_entropy", batch=1024, dtype="float32", lr=1e-3, data="mnist",
                memory_samples=60000, frameworks=("backprop", "torch", "gemm"), optimizer="adam",
                fixed_n=60000)
PREDICT = Workload(name="predict-10k", sizes=(784, 256, 128, 10), hidden="relu", output="softmax",
                   loss="cross_entropy", batch=10000, dtype="float32", lr=0.01, data="mnist",
                   memory_samples=10000, frameworks=("backprop", "torch", "gemm"), kind="predict",
                   fixed_n=10000)

#: scikit-learn's batch_size="auto" is min(200, n_samples): 200 for these 20,000 rows
ESTIMATOR_BATCHES = (32, 200, 256, 1000)

FULL = ([_mlp(b, "float32") for b in (1, 32, 256, 1000)] + [XOR, ADAM, PREDICT]
        + [_estimator(b, epochs=3) for b in ESTIMATOR_BATCHES]
        + [_mlp(b, "float64") for b in (1, 32, 256, 1000)] + [DEEP, WIDE])

#: everything small (smoke test): fewer rows per fixed job, one estimator epoch, no scikit-learn SGD
#: loop (not a target; its process and warm-up cost the most time)
QUICK = ([dataclasses.replace(_mlp(b, "float32"), frameworks=("backprop", "torch", "gemm"))
          for b in (1, 32, 256, 1000)]
         + [dataclasses.replace(XOR, frameworks=("backprop", "python", "torch"))]
         + [dataclasses.replace(ADAM, name="adam-b1024-quick", fixed_n=15360, memory_samples=15360), PREDICT]
         + [dataclasses.replace(_estimator(b, epochs=1, rows=5000), name=f"sklearn-fit-b{b}-quick")
            for b in ESTIMATOR_BATCHES])

#: by name; where a quick workload shares its name with a full one, --only runs the full one
BY_NAME = {w.name: w for w in QUICK + FULL}
