"""exercises: backpropagation problems for the classroom, their answer keys, and a grader.

* :func:`generate` -- N problems from a seed (:mod:`~backprop.exercises.generate`), a
  :class:`~backprop.exercises.sheet.Sheet` rendered as LaTeX, Markdown, HTML, Moodle XML or a
  Jupyter notebook, with a key file (:meth:`Sheet.key_json`);
* :func:`grade` -- a student's answers marked against the key: correct, follow-through or wrong,
  with the misconception behind a wrong value (:mod:`~backprop.exercises.grade`,
  :mod:`~backprop.exercises.misconceptions`);
* :func:`read_key`, :func:`read_answers` -- the two files, validated (:mod:`~backprop.exercises.key`).
"""

from backprop.exercises.generate import generate
from backprop.exercises.grade import Grades, grade
from backprop.exercises.key import read_answers, read_key
from backprop.exercises.misconceptions import MISCONCEPTIONS
from backprop.exercises.sheet import FORMATS, Sheet

__all__ = ["generate", "grade", "Grades", "read_key", "read_answers", "Sheet", "FORMATS", "MISCONCEPTIONS"]
