"""sklearn: scikit-learn drop-in estimators on the backprop engine."""
