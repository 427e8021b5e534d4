"""see: backpropagation made visible -- explain documents and plots.

The explain document, one concept per module:

* :mod:`~backprop.see.explain` -- :func:`explain` (argument checks, the engine's update) and
  the :class:`~backprop.see.explain.Explanation` it returns;
* :mod:`~backprop.see.walkthrough` -- the online and the (mini-)batch document, step by step;
* :mod:`~backprop.see.forward`, :mod:`~backprop.see.backward`, :mod:`~backprop.see.update`,
  :mod:`~backprop.see.batch` -- the steps: forward pass and error, error terms, the delta rule,
  the per-sample gradients and their mean;
* :mod:`~backprop.see.context` -- one sample's numbers and how they are printed;
* :mod:`~backprop.see.notation` -- the reference's symbols for a network of any depth;
* :mod:`~backprop.see.document`, :mod:`~backprop.see.mathnodes` -- blocks and formulas;
* :mod:`~backprop.see.render_text`, :mod:`~backprop.see.render_tex`,
  :mod:`~backprop.see.render_html` -- terminal text, Markdown/LaTeX, HTML with MathML.

:mod:`~backprop.see.plots` draws the figures of training.
"""
