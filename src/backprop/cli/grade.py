"""``backprop grade``: a student's answers marked against a sheet's key file (see
:func:`backprop.exercises.grade`): right, right by follow-through, or wrong with the misconception."""

from __future__ import annotations

import json
from typing import Any

import click

from backprop.cli.common import check_out_path, same_file
from backprop.cli.errors import user_errors
from backprop.errors import InvalidInputError
from backprop.exercises.grade import grade as grade_answers
from backprop.io.atomic import atomic_write_bytes


@click.command("grade")
@click.argument("key", type=click.Path(dir_okay=False))
@click.argument("answers", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The marks as JSON (every asked value).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the report here.")
@user_errors
def grade(key: Any, answers: Any, as_json: bool, out: Any) -> Any:
    """Mark ANSWERS (.json or .csv) against KEY (from `backprop exercise --key`).

    Each asked value is correct, follow_through (right from the student's own earlier values) or
    wrong, with the mistake that reproduces it (no_gprime, updated_weights, sign, mean_missing,
    mean_twice, h_for_a, a_for_h, no_bias, sigmoid_derivative, lr_twice, or unknown).
    """
    if out:
        check_out_path(out)
        for name, path in (("KEY", key), ("ANSWERS", answers)):  # the report would replace it
            if same_file(out, path):
                raise InvalidInputError(f"--out {out!r} is the {name} file itself; choose another name")
    g = grade_answers(key, answers)
    text = json.dumps(g.to_json(), indent=1, ensure_ascii=False) + "\n" if as_json else g.to_text()
    if out:
        atomic_write_bytes(out, text.encode("utf-8"))
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)
