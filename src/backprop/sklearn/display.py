"""Rich display in notebooks: an estimator's fitted state below scikit-learn's own diagram.

scikit-learn's ``BaseEstimator`` renders an estimator as its interactive diagram (through
``_repr_html_`` and ``_repr_mimebundle_``, both calling ``_html_repr``). :func:`estimator_html`
keeps that diagram and adds, once the estimator is fitted, what training produced: the layers and
their weights ``coefs_``/``intercepts_`` in the reference's symbols (small matrices in full, large
ones as shapes and statistics), ``classes_`` and ``feature_names_in_`` (user strings: escaped and
bounded), ``n_iter_``, the loss and the loss curve.
"""

from __future__ import annotations

from typing import Any

from backprop.model.display import layers_html
from backprop.train.display import esc, items, num, sparkline, table, wrap


def _hidden_names(est: Any, n_hidden: int) -> list[str]:
    act = est.activation
    return [str(act)] * n_hidden if isinstance(act, str) else [str(a) for a in act]


def fitted_state_html(est: Any) -> str:
    """The fitted state of an estimator as HTML, or "" when it is not fitted."""
    coefs, intercepts = getattr(est, "coefs_", None), getattr(est, "intercepts_", None)
    if coefs is None or intercepts is None:
        return ""
    sizes = [int(coefs[0].shape[0])] + [int(c.shape[1]) for c in coefs]
    acts = _hidden_names(est, len(coefs) - 1) + [str(getattr(est, "out_activation_", "?"))]
    if len(acts) != len(coefs):  # parameters changed after fitting: show the layers without names
        acts = ["?"] * len(coefs)
    rows = [["layer sizes", esc("-".join(str(n) for n in sizes))],
            ["n_iter_ (epochs)", esc(getattr(est, "n_iter_", "–"))]]
    if getattr(est, "loss_", None) is not None:
        rows.append(["loss_", num(est.loss_)])
    best = getattr(est, "best_loss_", None)
    if best is not None:
        rows.append(["best_loss_", num(best)])
    scores = getattr(est, "validation_scores_", None)
    if scores:
        rows.append(["validation score (last epoch)", num(scores[-1])])
    classes = getattr(est, "classes_", None)
    if classes is not None:
        rows.append(["classes_", f"{len(classes)}: {items(list(classes))}"])
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        rows.append(["feature_names_in_", f"{len(names)}: {items(list(names))}"])
    body = table(["", "value"], rows)
    curves = {"loss_curve_": list(getattr(est, "loss_curve_", None) or [])}
    val = getattr(est, "validation_loss_curve_", None)
    if val:
        curves["validation_loss_curve_"] = list(val)
    body += sparkline(curves)
    body += layers_html(sizes, acts, coefs, intercepts)
    return wrap(f"fitted {esc(type(est).__name__)}", body)


def estimator_html(est: Any) -> str:
    """scikit-learn's diagram of ``est``, then (when fitted) :func:`fitted_state_html`."""
    from sklearn.utils import estimator_html_repr

    return estimator_html_repr(est) + fitted_state_html(est)


__all__ = ["estimator_html", "fitted_state_html"]
