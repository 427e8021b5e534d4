"""The grader: correct sheets pass, follow-through is marked right, each common mistake is named,
and malformed key and answers files are refused with a message naming the problem."""

import collections
import json

import pytest

from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.exercises import generate
from backprop.exercises.grade import grade
from backprop.exercises.tolerance import entry_tolerance
from exercise_oracle import STUDENTS, flat, update

SIGMOID_TANH = {"sigmoid", "tanh"}

#: sheets on which the mistakes can show (ask="all"), drawn over several seeds each
SETUPS = [
    {
        "sizes": [(2, 2, 1), (2, 3, 2)],
        "hidden": ["sigmoid", "tanh"],
        "output": ["sigmoid", "identity", "tanh"],
        "mode": ["online", "batch"],
    },
    {
        "sizes": [(3, 2, 2), (2, 2, 1)],
        "hidden": ["relu", "identity", "tanh"],
        "output": ["sigmoid", "tanh"],
        "mode": ["batch", "minibatch"],
        "samples": 3,
    },
    {
        "sizes": [(2, 3, 2)],
        "hidden": ["sigmoid"],
        "output": ["softmax", "sigmoid"],
        "loss": ["cross_entropy"],
        "mode": ["batch", "online"],
    },
]
SEEDS = range(4)


def _answers(p, student):
    return {q: v for q, v in student.items() if q in p["asked"]}


def _applicable(mistake, p):
    """Whether this student's mistake can change a value of problem p at all (from its setup)."""
    m = len(p["x"])
    mse_gp = p["loss"] == "mse" and p["output"] in SIGMOID_TANH
    if mistake in ("no_gprime", "a_for_h"):
        return mse_gp or p["hidden"] in SIGMOID_TANH
    if mistake == "sigmoid_derivative":
        return (p["loss"] == "mse" and p["output"] != "sigmoid") or p["hidden"] != "sigmoid"
    if mistake in ("mean_missing", "mean_twice"):
        return m >= 2
    return True


def _visible(p, student, decimals, relative, sheet_problem):
    """Some asked value of the student's is outside its tolerance (the documented formula)."""
    for q in p["asked"]:
        if q not in student:
            continue
        key = dict(flat(p[q]))
        for idx, v in flat(student[q]):
            if abs(v - key[idx]) > entry_tolerance(sheet_problem, q, idx, decimals, relative):
                return True
    return False


def test_a_correct_sheet_is_all_correct():
    for setup in SETUPS:
        for seed in SEEDS:
            sheet = generate(2, seed, **setup)
            key = sheet.key_json()
            g = grade(key, [_answers(p, update(p)) for p in key["problems"]])
            assert {it["verdict"] for it in g.items()} == {"correct"}
            assert g.right == g.asked


@pytest.mark.parametrize("setup", SETUPS)
def test_a_student_who_rounds_as_they_go_is_right(setup):
    # every value rounded to the decimals asked as soon as it is computed, and carried on rounded
    for seed in SEEDS:
        sheet = generate(2, seed, **setup)
        key = sheet.key_json()
        g = grade(key, [_answers(p, update(p, round_to=sheet.decimals)) for p in key["problems"]])
        assert g.right == g.asked, [it for it in g.items() if it["verdict"] == "wrong"][:3]


def test_rounded_answers_are_correct():
    sheet = generate(3, 7, sizes=[(2, 3, 2)], hidden=["sigmoid", "tanh"], mode=["batch", "online"])
    key = sheet.key_json()

    def rounded(v):
        return [rounded(x) for x in v] if isinstance(v, list) else round(v, sheet.decimals)

    g = grade(key, [{q: rounded(v) for q, v in _answers(p, update(p)).items()} for p in key["problems"]])
    assert {it["verdict"] for it in g.items()} == {"correct"}


@pytest.mark.parametrize("mistake", sorted(STUDENTS))
def test_each_mistake_is_named(mistake):
    expected = STUDENTS[mistake]
    named = 0
    for setup in SETUPS:
        for seed in SEEDS:
            sheet = generate(2, seed, **setup)
            key = sheet.key_json()
            for p, sp in zip(key["problems"], sheet.problems):
                student = update(p, mistake)
                g = grade(key | {"problems": [p]}, [_answers(p, student)])
                verdicts = collections.Counter((it["verdict"], it["misconception"]) for it in g.items())
                # nothing else is ever blamed: each value is right, right by follow-through, or this mistake
                assert set(verdicts) <= {
                    ("correct", None),
                    ("follow_through", None),
                    ("wrong", expected),
                    ("missing", None),
                }, (verdicts, p["hidden"], p["output"])
                if _applicable(mistake, p) and _visible(p, student, sheet.decimals, sheet.relative, sp):
                    assert verdicts[("wrong", expected)] > 0
                    named += 1
    assert named >= 3  # the mistake showed (and was named) on several problems


def test_the_feedback_names_the_equation_and_the_step():
    texts = []
    for seed in range(20):  # the first sheets on which the mistake shows at this precision
        key = generate(1, seed, sizes=[(2, 2, 1)]).key_json()
        p = key["problems"][0]
        g = grade(key, [_answers(p, update(p, "updated_weights"))])
        texts += [it["feedback"] for it in g.items() if it["misconception"] == "updated_weights"]
    assert (
        "δ₁ʰ matches eq. (4) with w after the update; eq. (4) uses the weights of the forward pass" in texts
    )


def test_follow_through_is_marked_right():
    for seed in SEEDS:
        key = generate(
            1, seed, sizes=[(2, 3, 2)], hidden=["sigmoid", "tanh"], mode=["batch", "online"]
        ).key_json()
        p = key["problems"][0]
        # a wrong output error term carried on correctly: only that value is wrong
        g = grade(key, [_answers(p, update(p, delta_out_shift=0.05))])
        wrong = [it for it in g.items() if it["verdict"] == "wrong"]
        assert [(it["quantity"], it["index"]) for it in wrong] == [("delta", [1, 0, 0])]
        ft = [it for it in g.items() if it["verdict"] == "follow_through"]
        assert {it["quantity"] for it in ft} >= {"grad_weights", "grad_biases", "weights_after"}
        assert all("follow-through" in it["feedback"] for it in ft)
        # a wrong hidden h carried through the forward pass
        g = grade(key, [_answers(p, update(p, h_hidden_shift=0.1))])
        wrong = [it for it in g.items() if it["verdict"] == "wrong"]
        assert [(it["quantity"], it["index"]) for it in wrong] == [("h", [0, 0, 0])]
        assert "a" in {it["quantity"] for it in g.items() if it["verdict"] == "follow_through"}


def test_a_value_nobody_would_compute_is_unknown_and_missing_values_are_missing():
    key = generate(1, 1).key_json()
    p = key["problems"][0]
    answers = _answers(p, update(p))
    answers["E"] = 123.0
    del answers["weights_after"]
    g = grade(key, [answers])
    by = {it["quantity"]: it for it in g.items()}
    assert by["E"]["verdict"] == "wrong" and by["E"]["misconception"] == "unknown"
    assert by["weights_after"]["verdict"] == "missing"
    assert g.right == g.asked - 1 - len(list(flat(p["weights_after"])))


def test_answers_as_csv(tmp_path):
    key = generate(2, 3, mode=["online", "batch"]).key_json()
    rows = ["problem,quantity,index,value"]
    for n, p in enumerate(key["problems"], 1):
        for q, v in _answers(p, update(p, "lr_twice")).items():
            rows += [f"{n},{q},{' '.join(map(str, idx))},{x!r}" for idx, x in flat(v)]
    path = tmp_path / "answers.csv"
    path.write_text("\n".join(rows) + "\n")
    g = grade(key, path)
    assert {it["misconception"] for it in g.items() if it["verdict"] == "wrong"} == {"lr_twice"}
    assert all(
        it["verdict"] == "correct"
        for it in g.items()
        if it["quantity"] != "weights_after" and it["quantity"] != "biases_after"
    )


def _key():
    return generate(1, 0).key_json()


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda k: k.update(format="other"), "not an exercise key"),
        (lambda k: k.update(version=9), "version"),
        (lambda k: k["problems"][0].update(sizes=[2, 2]), "sizes"),
        (lambda k: k["problems"][0].update(sizes=[2, 10**9, 1]), "sizes"),
        (lambda k: k["problems"][0].update(hidden="softsign"), "hidden"),
        (lambda k: k["problems"][0].update(loss="cross_entropy"), "does not go with"),
        (lambda k: k["problems"][0]["weights"][0].pop(), "weights"),
        (lambda k: k["problems"][0]["h"][0][0].append(1.0), "h"),
        (lambda k: k["problems"][0]["delta"][1][0].__setitem__(0, 0.5), "was the key edited"),
        (lambda k: k["problems"][0].update(lr=True), "lr"),
        (lambda k: k["problems"][0].update(asked=["everything"]), "asked"),
        (lambda k: k.update(problems=[]), "problems"),
        # fields that were not checked on reading
        (lambda k: k["problems"][0].update(batch=[1]), r"problem 1\.batch: expected the row indices"),
        (lambda k: k["problems"][0].update(batch=[0.0]), r"problem 1\.batch"),
        (lambda k: k["problems"][0].update(batch="0"), r"problem 1\.batch"),
        (lambda k: k["problems"][0].pop("batch"), r"problem 1\.batch"),
        (lambda k: k["tolerance"].update(absolute=0.5), r"tolerance\.absolute: expected 10\^-decimals"),
        (lambda k: k["tolerance"].update(absolute="0.001"), r"tolerance\.absolute"),
        (lambda k: k["tolerance"].update(absolute=True), r"tolerance\.absolute"),
        (lambda k: k["tolerance"].pop("absolute"), r"tolerance\.absolute"),
    ],
)
def test_a_malformed_key_is_refused(edit, match):
    key = _key()
    edit(key)
    with pytest.raises(InvalidInputError, match=match):
        grade(key, {"problems": []})


@pytest.mark.parametrize(
    "answers, match",
    [
        ([1, 2], "problems"),
        ({"problems": "x"}, "problems"),
        ({"problems": [{"delta": [[[1.0, 2.0]]]}]}, "delta"),
        ({"problems": [{"delta": [[[1.0, 2.0, 3.0]], [[1.0]]]}]}, "2 entries"),
        ({"problems": [{"E": "0.1"}]}, "number"),
        ({"problems": [{"deltas": 1}]}, "unknown quantity"),
        ({"problems": [{}, {}]}, "key has 1"),
        ({"format": "x", "problems": []}, "format"),
    ],
)
def test_malformed_answers_are_refused(answers, match):
    with pytest.raises(InvalidInputError, match=match):
        grade(_key(), answers)


@pytest.mark.parametrize(
    "text, match",
    [
        ("p,q,i,v\n", "header"),
        ("problem,quantity,index,value\n2,E,,0.1\n", "problem must be"),
        ("problem,quantity,index,value\n1,h,0 5 0,0.1\n", "not an entry"),
        ("problem,quantity,index,value\n1,E,,abc\n", "must be a number"),
        ("problem,quantity,index,value\n1,E,,0.1\n1,E,,0.2\n", "twice"),
        ("problem,quantity,index,value\n1,E,,nan\n", "finite"),
        # float() takes these; a grader reads none of them as a number
        ("problem,quantity,index,value\n1,E,,\uff10.\uff11\n", "ASCII digits"),
        ("problem,quantity,index,value\n1,E,,\u0660.\u0665\n", "ASCII digits"),
        ("problem,quantity,index,value\n1,E,,0.1_2\n", "ASCII digits"),
    ],
)
def test_malformed_csv_is_refused(tmp_path, text, match):
    path = tmp_path / "a.csv"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=match):
        grade(_key(), path)


@pytest.mark.parametrize("value", ["0.25", " -2.5e-1 ", "+.25", "2.5E-01", "1."])
def test_ascii_numbers_in_csv_are_read(tmp_path, value):
    key = _key()
    path = tmp_path / "a.csv"
    path.write_text(f"problem,quantity,index,value\n1,E,,{value}\n")
    (item,) = [it for it in grade(key, path).items() if it["quantity"] == "E"]
    assert item["answer"] == float(value)


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "key.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        grade(path, {"problems": []})
    path.write_text(json.dumps(_key()).replace("0.", "NaN", 1))
    with pytest.raises(InvalidInputError):
        grade(path, {"problems": []})


@pytest.mark.parametrize("key", [None, 10**6, 2.5, b"key.json"])
def test_a_key_of_the_wrong_type_is_named(key):
    # an int was taken for a file descriptor; None failed inside os.stat
    with pytest.raises(InvalidTypeError, match="the key file: expected a path or its parsed JSON, got"):
        grade(key, {"problems": []})


@pytest.mark.parametrize("answers", [None, 10**6, b"answers.json", ({"problems": []},)])
def test_answers_of_the_wrong_type_are_named(answers):
    with pytest.raises(InvalidTypeError, match="the answers file: expected a path or its parsed JSON, got"):
        grade(_key(), answers)


@pytest.mark.parametrize("value", ["x", "0.1", 1 + 2j, object()])
def test_a_list_of_answers_with_a_value_that_is_not_a_number_is_refused(value):
    with pytest.raises(InvalidInputError, match=r"problem 1\.E: expected a number or None"):
        grade(_key(), [{"E": value}])


def test_a_tuple_of_answers_is_graded_as_a_list():
    key = _key()
    answers = [{"E": key["problems"][0]["E"]}]
    assert grade(key, tuple(answers)).right == grade(key, answers).right == 1
