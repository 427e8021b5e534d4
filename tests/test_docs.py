"""The documentation against the code: links, the reference's functions and numbers, the command
lines, the install lines.

README.md and docs/*.md are read as a new user would: every relative link must lead to a file of the
repository, every function docs/reference.md names must exist where its link points, the worked
example's numbers must be what the engine and a plain-Python evaluation of eqs. (6)-(18) give,
every ``backprop ...`` command line must parse against the real command line, and every install
line must name this project's distribution (or a clone, ``-e .``), not the unrelated project that
owns the name "backprop" on the package index.
"""

from __future__ import annotations

import importlib
import math
import re
import shlex
from pathlib import Path

import click
import numpy as np
import pytest

import backprop
from backprop.cli import main
from backprop.version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REFERENCE = ROOT / "docs" / "reference.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"!?\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The Markdown without its code (fenced blocks and code spans), where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- (a) links ----------------------------------------------------------------------------------------------
def test_the_documents_exist():
    assert REFERENCE in DOCS and (ROOT / "docs" / "architecture.md") in DOCS


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_relative_link_resolves_to_a_file_inside_the_repository(doc):
    bad = []
    for match in LINK.finditer(_prose(_read(doc))):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # https:, mailto:; an anchor of the page itself
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT):
            bad.append(f"{target} leaves the repository")
        elif not path.exists():
            bad.append(f"{target} does not exist")
    assert not bad, f"{_name(doc)}: {bad}"


def test_the_link_check_sees_a_broken_link_and_one_that_leaves_the_repository(tmp_path):
    text = "[a](../outside/x.md) and [b](docs/nowhere.md) but `[c](../code/span.md)`"
    found = [m["target"] for m in LINK.finditer(_prose(text))]
    assert found == ["../outside/x.md", "docs/nowhere.md"]


def test_nothing_points_outside_the_repository():
    """No file names the workplace's folder of notes (the reference is docs/reference.md now)."""
    outside = re.compile(r"\.\./" + "shared|" + "shared/" + "(reference|notes)")
    files = [*DOCS, *(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
             *(ROOT / "bench").rglob("*.py"), ROOT / "pyproject.toml"]
    bad = [f"{_name(f)}: {m.group(0)}" for f in files if f != Path(__file__).resolve()
           for m in outside.finditer(_read(f))]
    assert not bad


def test_readme_and_architecture_link_to_the_reference():
    assert "](docs/reference.md)" in _prose(_read(ROOT / "README.md"))
    assert "](reference.md)" in _prose(_read(ROOT / "docs" / "architecture.md"))


# -- (b) the functions docs/reference.md names ---------------------------------------------------------------
CODE_LINK = re.compile(r"\[`(?P<name>[A-Za-z_][\w.]*)`\]\((?P<target>\.\./src/[^)#\s]+\.py)\)")


def _code_links(text):
    return [(m["name"], m["target"]) for m in CODE_LINK.finditer(text)]


def _resolve(name, target):
    """The object ``name`` (``function`` or ``Class.method``) of the module the link points to."""
    module = ".".join(Path(target).relative_to("../src").with_suffix("").parts)
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)  # AttributeError: the page names something that is not there
    return obj


def test_every_function_the_reference_names_exists_where_its_link_points():
    links = _code_links(_read(REFERENCE))
    assert len({name for name, _ in links}) >= 25
    for name, target in links:
        assert callable(_resolve(name, target)), name


def test_a_renamed_function_would_be_caught():
    with pytest.raises(AttributeError):
        _resolve("output_deltas", "../src/backprop/core/reference.py")
    with pytest.raises(AttributeError):
        _resolve("Network.backward", "../src/backprop/model/network.py")


def test_every_equation_1_to_18_has_a_row_linking_to_its_code():
    text = _read(REFERENCE)
    table = text[text.index("## Every equation and the code that computes it"):]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\| \((\d+)\) \|", line)
        if m:
            rows[int(m.group(1))] = _code_links(line)
    assert sorted(rows) == list(range(1, 19))
    assert all(rows.values())
    # and each equation is written out above, with its number
    for n in range(1, 19):
        assert re.search(rf"\({n}\)\s*$", text, re.M), f"eq. ({n}) is not displayed"


# -- the worked example's numbers ----------------------------------------------------------------------------
def _example_program():
    text = _read(REFERENCE)
    section = text[text.index("### The example in numbers"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _example_table():
    text = _read(REFERENCE)
    block = text[text.index("<!-- worked-example:start -->"):text.index("<!-- worked-example:end -->")]
    rows = []
    for line in block.splitlines():
        m = re.match(r"\| (?P<what>[^|]+) \| `(?P<expr>[^`]+)` \| (?P<values>[^|]+) \|$", line)
        if m:
            numbers = [float(v) for v in re.findall(r"-?\d+\.\d+", m["values"].replace("\u2212", "-"))]
            rows.append((m["what"].strip(), m["expr"], numbers))
    return rows


def _plain_python_update(V, v0, W, w0, x, y, eta):
    """Eqs. (6)-(18) for one sample with sigmoid units, in Python floats: the independent oracle."""
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    L, M, N = len(x), len(v0), len(w0)
    h_h = [v0[j] + sum(x[i] * V[i][j] for i in range(L)) for j in range(M)]
    a_h = [sig(z) for z in h_h]
    h_o = [w0[k] + sum(a_h[j] * W[j][k] for j in range(M)) for k in range(N)]
    yhat = [sig(z) for z in h_o]
    E = sum((yhat[k] - y[k]) ** 2 for k in range(N)) / 2
    d_o = [(yhat[k] - y[k]) * yhat[k] * (1 - yhat[k]) for k in range(N)]                 # (8)-(11)
    d_h = [a_h[j] * (1 - a_h[j]) * sum(d_o[k] * W[j][k] for k in range(N)) for j in range(M)]  # (15)-(17)
    gW = [[d_o[k] * a_h[j] for k in range(N)] for j in range(M)]                      # (11)
    gV = [[d_h[j] * x[i] for j in range(M)] for i in range(L)]                        # (18)
    return {
        "t.h[0]": h_h, "t.a[0]": a_h, "t.h[1]": h_o, "t.a[1]": yhat, "t.loss": [E],
        "t.delta[1]": d_o, "t.delta[0]": d_h,
        "t.grad_weights[1]": gW, "t.grad_biases[1]": d_o, "t.grad_weights[0]": gV, "t.grad_biases[0]": d_h,
        "s.weights_after[1]": [[W[j][k] - eta * gW[j][k] for k in range(N)] for j in range(M)],
        "s.biases_after[1]": [w0[k] - eta * d_o[k] for k in range(N)],
        "s.weights_after[0]": [[V[i][j] - eta * gV[i][j] for j in range(M)] for i in range(L)],
        "s.biases_after[0]": [v0[j] - eta * d_h[j] for j in range(M)],
    }


def test_the_worked_example_numbers_are_what_the_program_and_the_equations_give():
    namespace: dict = {}
    exec(compile(_example_program(), str(REFERENCE), "exec"), namespace)  # the page's own program
    rows = _example_table()
    assert len(rows) >= 15
    s, net = namespace["s"], namespace["net"]
    before = [np.asarray(a).tolist() for a in (*s.weights_before, *s.biases_before)]
    oracle = _plain_python_update(before[0], before[2], before[1], before[3],
                                  namespace["x"][0].tolist(), namespace["y"][0].tolist(), s.lr)
    assert isinstance(net, backprop.Network) and s.lr == 0.5
    for what, expr, numbers in rows:
        engine = np.ravel(eval(expr, namespace))
        # the page rounds to 6 decimals: |printed - exact| <= 5e-7 (plus float noise)
        np.testing.assert_allclose(numbers, engine, rtol=0, atol=5e-7 + 1e-12, err_msg=what)
        if expr in oracle:
            np.testing.assert_allclose(engine, np.ravel(oracle[expr]), rtol=1e-12, atol=1e-15, err_msg=what)
    assert {expr for _, expr, _ in rows} >= set(oracle)


# -- (c) the command lines -----------------------------------------------------------------------------------
def _command_lines():
    """(document, line, bare) for every ``backprop ...`` command in code blocks and code spans; bare:
    a span of the prose that only names a command or one of its options (``backprop train --dask``)."""
    found = []
    for doc in DOCS:
        text = _read(doc)
        for block in FENCE.finditer(text):
            fence, *body = block.group(0).splitlines()[:-1]
            lang = fence.strip("`~ ")
            if lang not in ("", "bash", "sh", "console"):
                continue
            for line in body:
                if lang == "console":  # a prompt's command, not what it printed
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                for part in line.split("&&"):
                    words = part.strip().split(maxsplit=1)
                    if words and (words[0] == "backprop" or words[0].endswith("/bin/backprop")):
                        found.append((doc, "backprop " + (words[1] if len(words) > 1 else ""), False))
        for span in INLINE_CODE.finditer(FENCE.sub("", text)):
            code = span.group(0).strip("`")
            if re.match(r"backprop [-a-z]", code):  # not backprop.explain(), backprop[dask], backprop COMMAND
                found.append((doc, code, re.fullmatch(r"backprop [a-z]+( --[a-z-]+)?", code) is not None))
    return found


def _parse(line, bare=False):
    """The click context of a documented command line: wrong or missing option names, bad values and
    unknown commands raise click's usage errors. Placeholders are made concrete first: ``[--opt]`` is
    the option, ``a|b|c`` its first choice, ``...`` left out. A command's bare name in the prose
    (``backprop grade``, ``backprop train --dask``) names the command, or one of its options, without
    their arguments: only the names are checked."""
    args = shlex.split(line, comments=True)[1:]
    args = [re.sub(r"^\[(.*)\]$", r"\1", a) for a in args if a not in ("...", "\u2026")]
    args = [a.split("|")[0] if re.fullmatch(r"[a-z0-9-]+(\|[a-z0-9-]+)+", a) else a for a in args]
    if not args or args[0].startswith("-"):
        return main.make_context("backprop", args)
    command = main.get_command(click.Context(main), args[0])
    if command is None:
        raise click.UsageError(f"no such command {args[0]!r}")
    if bare and len(args) == 1:
        return None
    if bare and len(args) == 2 and args[1].startswith("--"):
        if args[1] not in {o for p in command.params for o in (*p.opts, *p.secondary_opts)}:
            raise click.NoSuchOption(args[1])
        return None
    return command.make_context(args[0], args[1:], parent=click.Context(main, info_name="backprop"))


def test_the_documents_show_command_lines():
    lines = [line for _, line, _ in _command_lines()]
    assert len(lines) >= 25
    assert any(line.startswith("backprop train fashion-mnist") for line in lines)


@pytest.mark.parametrize("doc,line,bare", _command_lines(),
                         ids=lambda v: v if isinstance(v, str) else _name(v) if isinstance(v, Path) else "")
def test_every_documented_command_line_parses(doc, line, bare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path argument is never checked against the repository's files
    _parse(line, bare)


@pytest.mark.parametrize("line", [
    "backprop train fashion-mnist --layer 512,256",      # a wrong option name
    "backprop train --epochs twenty",                     # a bad value
    "backprop trian digits",                              # a misspelt command
    "backprop evaluate",                                  # a missing argument
])
def test_the_command_check_catches_a_wrong_line(line):
    with pytest.raises(click.UsageError):
        _parse(line)
    if line.count(" ") == 1:  # a bare name in the prose is checked as a name only
        assert _parse(line, bare=True) is None
        with pytest.raises(click.UsageError):
            _parse("backprop evalute", bare=True)
        with pytest.raises(click.UsageError):
            _parse("backprop train --dusk", bare=True)
        assert _parse("backprop train --dask", bare=True) is None


def test_the_fashion_recipe_standardizes_its_inputs():
    """Without --standardize the README's recipe ran 1004 s for 20 epochs and reached 89.8 %: every
    Fashion-MNIST recipe (a line that sets the learning rate) standardizes the pixels."""
    recipes = [(doc, line) for doc, line, _ in _command_lines()
               if line.startswith("backprop train fashion-mnist") and "--lr" in line]
    assert any(doc.name == "README.md" and "--epochs 20" in line for doc, line in recipes)
    for _, line in recipes:
        assert _parse(line).params["standardize"] is True, line


# -- (d) install lines and the distribution's name ---------------------------------------------------------
PIP_INSTALL = re.compile(r"pip install (?P<args>[^`\n()]*)")


def _install_lines():
    found = []
    files = [*DOCS, *(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    for f in files:
        for m in PIP_INSTALL.finditer(_read(f)):
            found.append((f, m["args"]))
    return found


def _project_requirements(args):
    """The words of a ``pip install`` that ask for this project: a distribution spelled like it, or
    the source folder ``.``, with or without extras."""
    words = [w.strip("'\"") for w in args.split() if "{" not in w]  # not a template: see install_hint
    return [w for w in words if re.match(r"(backprop|\.)(\[|$)|backprop-", w)]


def test_every_install_line_names_the_distribution_or_a_clone():
    lines = _install_lines()
    asks = [(f, a) for f, a in lines if _project_requirements(a)]
    assert len(asks) >= 6
    for f, args in asks:
        for req in _project_requirements(args):
            if req.startswith("."):
                assert re.search(r"(^|\s)-e\s", args) and re.fullmatch(r"\.(\[[a-z,]+\])?", req), (f, args)
            else:
                assert re.fullmatch(re.escape(DISTRIBUTION) + r"(\[[a-z,]+\])?", req), (f, args)
    # whatever asks for an extra from the index also says how to get it in a clone
    for f in {f for f, a in asks if any(r.startswith(DISTRIBUTION + "[") for r in _project_requirements(a))}:
        assert re.search(r"pip install (-q )?-e ['\"]?\.\[", _read(f)), _name(f)


def test_the_install_check_catches_the_index_name():
    assert _project_requirements("'backprop[playground]'") == ["backprop[playground]"]
    assert _project_requirements("-q -e '.[test,bench]' 'torch==2.13.0'") == [".[test,bench]"]
    assert _project_requirements("pyarrow") == []


def test_the_install_hint_of_error_messages_names_both_ways():
    from backprop.version import install_hint

    hint = install_hint("playground")
    asks = [_project_requirements(m["args"]) for m in PIP_INSTALL.finditer(hint)]
    assert asks == [[f"{DISTRIBUTION}[playground]"], [".[playground]"]]
    assert "-e '.[playground]'" in hint


def test_pyproject_names_the_distribution_and_reads_the_version_from_the_package():
    from setuptools.config.pyprojecttoml import read_configuration

    config = read_configuration(ROOT / "pyproject.toml", expand=True)
    project = config["project"]
    assert project["name"] == DISTRIBUTION != "backprop"
    assert project["version"] == __version__ == backprop.__version__
    assert project["scripts"] == {"backprop": "backprop.cli:main"}  # the command keeps its name
    extras = project["optional-dependencies"]
    assert {"playground", "dask", "test", "bench"} <= set(extras)
    # the tests install the other extras through the distribution's own name
    (itself,) = [r for r in extras["test"] if r.startswith(DISTRIBUTION + "[")]
    assert {"playground", "dask"} <= set(itself[len(DISTRIBUTION) + 1:-1].split(","))
    assert not [r for reqs in extras.values() for r in reqs if re.match(r"backprop(\[|$)", r)]


def test_the_command_line_reports_the_version(capsys):
    with pytest.raises(SystemExit) as info:
        main.main(args=["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out
