"""``backprop exercise``: a sheet of backpropagation exercises, its answer key and its key file
(see :func:`backprop.exercises.generate`)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import click

from backprop.cli.common import SEED, check_out_path, parse_floats
from backprop.cli.errors import user_errors
from backprop.errors import InvalidInputError
from backprop.exercises.generate import MAX_COUNT, generate
from backprop.exercises.problem import TOPICS
from backprop.exercises.sheet import FORMATS, SOLUTION_FORMATS
from backprop.exercises.tolerance import DECIMALS
from backprop.io.atomic import atomic_open


def _names(text: str, option: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InvalidInputError(f"{option} needs at least one name")
    return names


def _networks(text: str) -> list[tuple[int, ...]]:
    out = []
    for part in _names(text, "--layers"):
        try:
            out.append(tuple(int(n) for n in part.split("-")))
        except ValueError:
            raise InvalidInputError(f"--layers takes networks like 2-2-1,2-3-2, got {part!r}") from None
    return out


def solutions_path(out: str, fmt: str) -> str:
    stem, ext = os.path.splitext(out)
    return f"{stem}-solutions{ext}"


@click.command("exercise")
@click.option(
    "--count", type=click.IntRange(1, MAX_COUNT), default=1, show_default=True, help="Number of problems."
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed gives the same sheet.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the sheet here (and, for latex/markdown/html, the worked answer key beside it "
    "as NAME-solutions.EXT) instead of printing it.",
)
@click.option(
    "--solutions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the worked answer key (latex, markdown, html).",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the key file (JSON: networks, samples, every value, what is asked) for `backprop grade`.",
)
@click.option(
    "--layers",
    default="2-2-1",
    show_default=True,
    metavar="L-M-N[,L-M-N...]",
    help="The networks to draw from, e.g. 2-2-1,2-3-2,3-2-2.",
)
@click.option(
    "--hidden",
    default="sigmoid",
    show_default=True,
    metavar="NAME[,NAME...]",
    help="Hidden activations to draw from: sigmoid, tanh, relu, identity.",
)
@click.option(
    "--output",
    "output_act",
    default="sigmoid",
    show_default=True,
    metavar="NAME[,NAME...]",
    help="Output activations to draw from: sigmoid, tanh, identity, softmax.",
)
@click.option(
    "--loss",
    default="mse",
    show_default=True,
    metavar="mse[,cross_entropy]",
    help="Error functions to draw from.",
)
@click.option(
    "--mode",
    default="online",
    show_default=True,
    metavar="MODE[,MODE...]",
    help="online (one sample), batch (--samples samples, one update) or minibatch (--samples samples, "
    "the update on the first mini-batch of --batch-size of them).",
)
@click.option(
    "--ask",
    default="all",
    show_default=True,
    metavar="TOPIC[,TOPIC...]",
    help="What the student finds: " + ", ".join(TOPICS) + " (forward: h, a, yhat, E; delta: eqs. 2 and "
    "4; gradients: eqs. 1 and 3; update: eq. 5).",
)
@click.option(
    "--lr", default="0.5,0.25", show_default=True, metavar="ETA[,ETA...]", help="Learning rates to draw from."
)
@click.option(
    "--samples",
    type=click.IntRange(2, 8),
    default=None,
    help="Samples per problem: batch mode's batch (default 2), minibatch mode's training set (more "
    "than --batch-size; default two mini-batches).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4),
    default=2,
    show_default=True,
    help="Minibatch mode: the mini-batch size.",
)
@click.option(
    "--decimals",
    type=click.IntRange(3, 6),
    default=DECIMALS,
    show_default=True,
    help="Decimals of the answers (sets the tolerance).",
)
@user_errors
def exercise(count: Any, seed: Any, fmt: Any, out: Any, solutions: Any, key: Any, layers: Any, hidden: Any,
             output_act: Any, loss: Any, mode: Any, ask: Any, lr: Any, samples: Any, batch_size: Any,
             decimals: Any) -> Any:
    """Backpropagation exercises in the lecture note's notation, with their answer key.

    Each problem is a small network with numbers a student can work by hand; the key file lets
    `backprop grade` mark a student's answers and name the mistake behind a wrong one.
    """
    if solutions is not None and fmt not in SOLUTION_FORMATS:
        raise InvalidInputError(
            f"--solutions: the {fmt} format carries its answers itself; "
            f"worked answer keys are written for {', '.join(SOLUTION_FORMATS)}"
        )
    if solutions is None and out is not None and fmt in SOLUTION_FORMATS:
        solutions = solutions_path(out, fmt)
    paths = [(o, p) for o, p in (("--out", out), ("--solutions", solutions), ("--key", key)) if p]
    for o, p in paths:
        check_out_path(p, o)
    real = [os.path.abspath(p) for _, p in paths]
    if len(set(real)) != len(real):
        raise InvalidInputError("--out, --solutions and --key must be different files")
    sheet = generate(
        count,
        seed,
        sizes=_networks(layers),
        hidden=_names(hidden, "--hidden"),
        output=_names(output_act, "--output"),
        loss=_names(loss, "--loss"),
        mode=_names(mode, "--mode"),
        ask=_names(ask, "--ask"),
        lr=parse_floats(lr, "--lr"),
        samples=samples,
        batch_size=batch_size,
        decimals=decimals,
    )
    text = sheet.render(fmt)
    files = [(p, body) for p, body in ((key, key and sheet.key_text()),
                                       (solutions, solutions and sheet.solutions(fmt)), (out, text)) if p]
    # every temporary file is written before any is renamed: a folder that refuses one leaves none
    with contextlib.ExitStack() as stack:
        for p, body in files:
            stack.enter_context(atomic_open(p)).write(body.encode("utf-8"))
    written = [p for p, _ in files]
    if not out:
        click.echo(text, nl=False)
    for p in written:
        click.echo(f"wrote {p}", err=out is None)
