"""``python -m backprop``: the same command line as the ``backprop`` console script."""

from backprop.cli import main

if __name__ == "__main__":
    main()
