"""Reading a practice file: YAML in, a checked `PracticeFile` or every problem with its line.

ruamel.yaml keeps where each key and list item sits in the file, so a pydantic error location
(`providers[1].hours.monday[0]`) and a whole-file check's location can both be turned into the
line an IT person should look at. Everything wrong is reported at once, not the first thing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from frontdesk.practices.config.checks import Loc, check_practice
from frontdesk.practices.config.schema import DURATION, SPAN, PracticeFile

_PATTERN_HINTS = {
    SPAN.pattern: 'is not a time span like "08:30-12:00"',
    DURATION.pattern: 'is not a duration like "7d", "48h" or "90m"',
    r"^[a-z0-9][a-z0-9-]{0,63}$": "must be lower-case letters, digits and dashes",
    r"^[^,]+$": "must not contain a comma",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a practice file."""

    line: int
    where: str  # "providers[1].hours.monday[0]", empty for the whole file
    message: str

    def render(self, source: str) -> str:
        """`FILE:LINE: where: message`, as compilers print it (editors jump to it)."""
        where = f"{self.where}: " if self.where else ""
        return f"{source}:{self.line}: {where}{self.message}"


class PracticeFileError(ValueError):
    """The file is not a valid practice; `problems` says everything that is wrong."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda problem: (problem.line, problem.where))
        super().__init__(f"{len(self.problems)} problem(s) in the practice file")


def yaml_parser() -> YAML:
    """The round-trip parser (it keeps line numbers); YAML 1.2, so `no` stays a string."""
    parser = YAML(typ="rt")
    parser.preserve_quotes = False
    return parser


def parse_practice(text: str) -> PracticeFile:
    """Parse and check a practice file's text.

    Raises:
        PracticeFileError: with every problem found and its line.
    """
    try:
        tree = yaml_parser().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise PracticeFileError([Problem(line, "", f"not valid YAML: {exc.problem}")]) from exc
    if not isinstance(tree, CommentedMap):
        raise PracticeFileError([Problem(1, "", "a practice file is a YAML mapping (key: value)")])
    try:
        practice = PracticeFile.model_validate(_plain(tree))
    except ValidationError as exc:
        raise PracticeFileError([_problem(tree, error) for error in exc.errors()]) from exc
    problems = [
        Problem(line_of(tree, loc), _where(loc), message)
        for loc, message in check_practice(practice)
    ]
    if problems:
        raise PracticeFileError(problems)
    return practice


def load_practice(path: Path) -> PracticeFile:
    """Read and check a practice file (see `parse_practice`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PracticeFileError([Problem(1, "", f"cannot read the file: {exc}")]) from exc
    return parse_practice(text)


def _plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (pydantic sees plain data)."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


def line_of(tree: CommentedMap, loc: Loc) -> int:
    """The 1-based line of the deepest part of `loc` that exists in the file."""
    line = 1
    node: Any = tree
    for step in loc:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            line = node.lc.item(step)[0] + 1
            node = node[step]
        else:
            break
    return line


def _where(loc: Loc) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _problem(tree: CommentedMap, error: ErrorDetails) -> Problem:
    loc: Loc = tuple(step for step in error["loc"] if isinstance(step, str | int))
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "missing":
        parent = loc[:-1]
        return Problem(line_of(tree, parent), _where(parent), f"{loc[-1]!r} is required")
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} (misspelt?)"
    elif kind == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        message = f"{error['input']!r} " + _PATTERN_HINTS.get(pattern, "is not valid here")
    elif kind == "enum":
        expected = (error.get("ctx") or {}).get("expected", "")
        message = f"{error['input']!r} is not one of {expected}"
    return Problem(line_of(tree, loc), _where(loc), message)
