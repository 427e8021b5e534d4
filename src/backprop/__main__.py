"""``python -m backprop``: the same command line as the ``backprop`` console script."""

from backprop.cli.app import main

if __name__ == "__main__":
    main()
