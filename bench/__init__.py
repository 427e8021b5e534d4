"""Benchmarks of backprop against PyTorch, scikit-learn and the GEMM-only ceiling (``python -m bench``).

Not part of the library or its test suite; see ``bench/README.md``.
"""
