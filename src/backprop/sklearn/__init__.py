"""sklearn: scikit-learn drop-in estimators on the backprop engine."""

from backprop.sklearn import files
from backprop.sklearn.estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "files"]
