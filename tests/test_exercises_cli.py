"""`backprop exercise` and `backprop grade` from the command line."""

import json

import pytest

from clitools import one_error_line, run_cli
from exercise_oracle import update


def _make(tmp_path, capsys, *extra, name="sheet"):
    args = [
        "exercise",
        "--count",
        "2",
        "--seed",
        "5",
        "--layers",
        "2-2-1,2-3-2",
        "--hidden",
        "sigmoid,tanh",
        "--mode",
        "online,batch",
        "--format",
        "latex",
        "--out",
        tmp_path / f"{name}.tex",
        "--key",
        tmp_path / f"{name}-key.json",
        *extra,
    ]
    status, out, err = run_cli(args, capsys)
    assert status == 0, err
    return out


def test_exercise_writes_sheet_solutions_and_key_the_same_for_the_same_seed(tmp_path, capsys):
    out = _make(tmp_path, capsys)
    assert "wrote" in out
    a = [(tmp_path / f).read_bytes() for f in ("sheet.tex", "sheet-solutions.tex", "sheet-key.json")]
    _make(tmp_path, capsys, name="again")
    b = [(tmp_path / f).read_bytes() for f in ("again.tex", "again-solutions.tex", "again-key.json")]
    assert a == b
    assert b"\\begin{document}" in a[0] and b"answer key" in a[1]
    key = json.loads(a[2])
    assert key["format"] == "backprop-exercise-key" and len(key["problems"]) == 2


def test_exercise_prints_markdown_by_default(capsys):
    status, out, _ = run_cli(["exercise", "--seed", "2", "--ask", "forward,delta"], capsys)
    assert status == 0 and out.startswith("# Backpropagation exercises")
    assert "\\delta^{h}_{1}" in out and "^{\\text{new}}" not in out  # the update is not asked


def test_grade_marks_answers(tmp_path, capsys):
    _make(tmp_path, capsys)
    key = json.loads((tmp_path / "sheet-key.json").read_text())
    answers = {"problems": []}
    for p in key["problems"]:
        answers["problems"].append({q: v for q, v in update(p, "no_gprime").items() if q in p["asked"]})
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    status, out, _ = run_cli(
        ["grade", tmp_path / "sheet-key.json", tmp_path / "answers.json", "--json"], capsys
    )
    assert status == 0
    report = json.loads(out)
    wrong = [it for p in report["problems"] for it in p["items"] if it["verdict"] == "wrong"]
    assert wrong and {it["misconception"] for it in wrong} == {"no_gprime"}
    assert all("g′" in it["feedback"] for it in wrong)
    status, out, _ = run_cli(["grade", tmp_path / "sheet-key.json", tmp_path / "answers.json"], capsys)
    assert status == 0 and "wrong (no_gprime)" in out and out.rstrip().splitlines()[-1].startswith("Total:")


@pytest.mark.parametrize(
    "args, match",
    [
        (["exercise", "--format", "pdf"], "pdf"),
        (["exercise", "--layers", "2-2"], "L-M-N"),
        (["exercise", "--layers", "2-x-1"], "--layers"),
        (["exercise", "--hidden", "softsign"], "hidden"),
        (["exercise", "--ask", "everything"], "ask"),
        (["exercise", "--lr", "abc"], "--lr"),
        (["exercise", "--count", "0"], "count"),
        (["exercise", "--format", "moodle", "--solutions", "x.xml"], "carries its answers"),
        (["exercise", "--out", "no/such/folder/x.md"], "does not exist"),
        (["exercise", "--mode", "minibatch", "--samples", "2"], "must be more than batch_size"),
        (["exercise", "--samples", "3"], "online mode uses one sample"),
    ],
)
def test_exercise_errors(args, match, capsys):
    status, _, err = run_cli(args, capsys)
    assert status == 2
    assert match in one_error_line(err)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda k: k["problems"][0].update(batch=[5]), ".batch: expected the row indices"),
        (lambda k: k["tolerance"].update(absolute=1.0), ".tolerance.absolute: expected 10^-decimals"),
    ],
)
def test_grade_refuses_an_edited_batch_or_absolute_tolerance(tmp_path, capsys, edit, match):
    _make(tmp_path, capsys)
    key = json.loads((tmp_path / "sheet-key.json").read_text())
    edit(key)
    (tmp_path / "edited.json").write_text(json.dumps(key))
    (tmp_path / "answers.json").write_text('{"problems": []}')
    status, _, err = run_cli(["grade", tmp_path / "edited.json", tmp_path / "answers.json"], capsys)
    assert status == 2 and match in one_error_line(err)


def test_exercise_minibatch_draws_the_mini_batch_from_the_samples(tmp_path, capsys):
    key = tmp_path / "key.json"
    status, _, err = run_cli(["exercise", "--mode", "minibatch", "--samples", "6", "--batch-size", "4",
                              "--key", key, "--count", "2"], capsys)
    assert status == 0, err
    for p in json.loads(key.read_text())["problems"]:
        assert len(p["train_x"]) == 6 and p["batch"] == [0, 1, 2, 3]


def test_grade_errors(tmp_path, capsys):
    _make(tmp_path, capsys)
    key = tmp_path / "sheet-key.json"
    bad = tmp_path / "bad.json"
    for text, match in [
        ("{", "not valid JSON"),
        ('{"problems": [{"delta": 3}]}', "delta"),
        ('{"problems": [{"h": [[[1, 2, 3, 4, 5, 6, 7]], [[1]]]}]}', "layout"),
    ]:
        bad.write_text(text)
        status, _, err = run_cli(["grade", key, bad], capsys)
        assert status == 2 and match in one_error_line(err)
    status, _, err = run_cli(["grade", tmp_path / "missing.json", bad], capsys)
    assert status == 2 and "missing.json" in one_error_line(err)
    status, _, err = run_cli(["grade", bad, key], capsys)
    assert status == 2 and one_error_line(err)
    out = tmp_path / "report.json"
    bad.write_text("{")
    status, _, err = run_cli(["grade", key, bad, "--out", out], capsys)
    assert status == 2 and not out.exists()


@pytest.mark.parametrize(
    "fmt, ext, solutions",
    [
        ("markdown", "md", True),
        ("html", "html", True),
        ("moodle", "xml", False),
        ("notebook", "ipynb", False),
    ],
)
def test_exercise_writes_each_format(tmp_path, capsys, fmt, ext, solutions):
    out = tmp_path / f"sheet.{ext}"
    status, _, err = run_cli(["exercise", "--format", fmt, "--out", out, "--seed", "3"], capsys)
    assert status == 0, err
    assert out.stat().st_size > 500
    assert (tmp_path / f"sheet-solutions.{ext}").exists() == solutions


def test_a_deeply_nested_answers_file_is_one_error(tmp_path, capsys):
    run_cli(["exercise", "--key", tmp_path / "key.json"], capsys)
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 100000 + "]" * 100000)
    status, _, err = run_cli(["grade", tmp_path / "key.json", bad], capsys)
    assert status == 2 and "nested too deeply" in one_error_line(err)


@pytest.mark.parametrize("refused", ["key.json", "sheet-solutions.md", "sheet.md"])
def test_a_file_that_cannot_be_written_leaves_none_of_the_others(tmp_path, capsys, monkeypatch, refused):
    """exit 2, one error line, and no key, sheet or solutions left behind from the failed command
    (the key used to be written, then the solutions failed). The refusal is what mkstemp raises in
    a folder one may not write in; simulated, since tests may run as root."""
    import tempfile

    import backprop.io.atomic

    real = tempfile.mkstemp

    def mkstemp(prefix, suffix, dir):
        if prefix == f".{refused}.":
            raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x{suffix}")
        return real(prefix=prefix, suffix=suffix, dir=dir)

    monkeypatch.setattr(backprop.io.atomic.tempfile, "mkstemp", mkstemp)
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(["exercise", "--out", "sheet.md", "--key", "key.json"], capsys)
    assert status == 2 and out == ""
    assert one_error_line(err) == f"error: Permission denied: {refused}"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["sheet-key.json", "answers.json"])
def test_grade_out_never_replaces_the_key_or_the_answers(tmp_path, capsys, monkeypatch, target):
    # `--out answers.json` used to overwrite the student's answers with the report
    _make(tmp_path, capsys)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "answers.json").write_text('{"problems": []}')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    status, out, err = run_cli(["grade", "sheet-key.json", "answers.json", "--out", f"./{target}"], capsys)
    assert status == 2 and out == ""
    assert "is the " in one_error_line(err) and "file itself" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
