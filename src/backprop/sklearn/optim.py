"""The estimators' optimizers: the engine's, with the learning rate as scikit-learn changes it.

scikit-learn changes eta between epochs (``invscaling`` from the samples seen, ``adaptive`` / 5),
so the schedule here is a value the estimator sets (:class:`Rate`). Code written for
scikit-learn reads and sets ``est._optimizer.learning_rate``; the classes here have it.
"""

from __future__ import annotations

from typing import Any

from backprop.train import optimizers as _opt


class Rate(_opt.Schedule):
    """The learning rate as scikit-learn changes it: between epochs, by the estimator."""

    def __init__(self, value: float):
        super().__init__("constant")
        self.value = float(value)

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return self.value

    def constant_within_epoch(self) -> bool:
        return True  # the estimator sets it between epochs


class _LearningRate:
    """scikit-learn's ``learning_rate`` attribute of its optimizers: the current eta."""

    schedule: _opt.Schedule
    lr: float

    @property
    def learning_rate(self) -> float:
        return float(getattr(self.schedule, "value", self.lr))

    @learning_rate.setter
    def learning_rate(self, value: float):
        if isinstance(self.schedule, Rate):
            self.schedule.value = float(value)  # the next update's eta
        else:
            self.lr = float(value)


class SGD(_LearningRate, _opt.SGD):
    pass


class Momentum(_LearningRate, _opt.Momentum):
    pass


class Nesterov(_LearningRate, _opt.Nesterov):
    pass


class Adam(_LearningRate, _opt.Adam):
    pass


_OURS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam)}


def with_learning_rate(opt: Any) -> Any:
    """``opt`` as one of the classes here (same state), e.g. an engine optimizer read from a file."""
    if opt is None or isinstance(opt, _LearningRate):
        return opt
    cls = _OURS[opt.name]
    ours = cls.__new__(cls)
    ours.__dict__.update(opt.__dict__)
    return ours


def kind_of(est: Any) -> str:
    """The engine optimizer an estimator's parameters ask for."""
    if est.solver == "adam":
        return "adam"
    if est.momentum > 0:
        return "nesterov" if est.nesterovs_momentum else "momentum"
    return "sgd"


def new_optimizer(est: Any) -> _opt.Optimizer:
    """A fresh optimizer at eta = ``learning_rate_init`` (scikit-learn makes one on every fit)."""
    kind = kind_of(est)
    rate = Rate(est.learning_rate_init)
    if kind == "adam":
        return Adam(est.learning_rate_init, beta_1=est.beta_1, beta_2=est.beta_2,
                    epsilon=est.epsilon, schedule=rate)
    if kind == "sgd":
        return SGD(est.learning_rate_init, schedule=rate)
    return _OURS[kind](est.learning_rate_init, momentum=est.momentum, schedule=rate)


def reset_hyperparameters(opt: Any, est: Any) -> None:
    """A kept optimizer for a new fit: same moments, the current hyperparameters and eta_0 again."""
    opt.lr0 = float(est.learning_rate_init)
    opt.learning_rate = opt.lr0
    if opt.name == "adam":
        opt.beta_1, opt.beta_2, opt.epsilon = float(est.beta_1), float(est.beta_2), float(est.epsilon)
    elif opt.name != "sgd":
        opt.momentum = float(est.momentum)
