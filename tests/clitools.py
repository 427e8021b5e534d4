"""Helpers shared by the command-line tests."""

import pytest


def run_cli(args, capsys):
    """Run the real command-line entry point in this process; (status, stdout, stderr)."""
    from backprop.cli import main

    with pytest.raises(SystemExit) as info:
        main.main(args=[str(a) for a in args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def one_error_line(err):
    """The CLI's error contract: one line on stderr, starting 'error: ', no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]
