"""Benchmarks of backprop against PyTorch, scikit-learn, plain Python and the GEMM-only ceiling.

``python -m bench`` (see ``bench/README.md``). Not part of the library or its test suite.
"""
