"""The benchmark's workloads: one network, data set, batch size, optimizer and dtype each.

Every framework trains exactly this: plain SGD (no momentum, no weight decay) with learning rate
``lr``, the same layer sizes and activations, the same loss (softmax + cross-entropy for the
classifiers, sigmoid + binary cross-entropy for XOR), the same batch size and dtype.
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
    data: str  # "mnist" (Fashion-MNIST images) or "xor"
    #: samples of the memory job (one epoch over this many samples, the same for every framework)
    memory_samples: int

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
        return cls(**d)


def _mlp(batch, dtype):
    return Workload(name=f"mlp-b{batch}-{dtype}", sizes=(784, 256, 128, 10), hidden="relu", output="softmax",
                    loss="cross_entropy", batch=batch, dtype=dtype, lr=0.01, data="mnist",
                    memory_samples=min(60000, 200 * batch))


XOR = Workload(name="xor-online", sizes=(2, 4, 1), hidden="sigmoid", output="sigmoid",
               loss="binary_cross_entropy", batch=1, dtype="float32", lr=0.5, data="xor",
               memory_samples=4000)
DEEP = Workload(name="deep-b64", sizes=(784,) + (64,) * 10 + (10,), hidden="relu", output="softmax",
                loss="cross_entropy", batch=64, dtype="float32", lr=0.01, data="mnist",
                memory_samples=12800)
WIDE = Workload(name="wide-b256", sizes=(784, 2048, 10), hidden="relu", output="softmax",
                loss="cross_entropy", batch=256, dtype="float32", lr=0.01, data="mnist",
                memory_samples=51200)

FULL = ([_mlp(b, "float32") for b in (1, 32, 256, 1000)] + [_mlp(b, "float64") for b in (1, 32, 256, 1000)]
        + [XOR, DEEP, WIDE])
QUICK = [_mlp(b, "float32") for b in (1, 32, 256, 1000)] + [XOR]

BY_NAME = {w.name: w for w in FULL}
