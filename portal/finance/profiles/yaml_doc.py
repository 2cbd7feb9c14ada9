"""A profile document as finance edits it in the browser (rendered by billing.profiles.diff.body_yaml, the
one rendering): YAML text in, the body out, and each validation error placed at its field: the path of a FieldIssue (`prices[2].tiers[1].up_to`) is followed through the
YAML's node tree to the line it was written on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from common.errors import FieldIssue

_TOKEN = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


@dataclass(frozen=True)
class PlacedIssue:
    field: str
    message: str
    line: int | None  # 1-based line of the YAML text, when the path was found


class YamlSyntaxError(Exception):
    def __init__(self, issue: PlacedIssue):
        super().__init__(issue.message)
        self.issue = issue


def yaml_load(text: str) -> Any:
    """The document the text holds; a syntax error becomes a YamlSyntaxError naming its line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise YamlSyntaxError(PlacedIssue("document", f"not valid YAML: {problem}", line)) from err


def _parts(path: str) -> list[str | int]:
    return [int(index) if index else name for index, name in _TOKEN.findall(path)]


def line_of(text: str, path: str) -> int | None:
    """The 1-based line where `path` is written in the YAML text: the value's line, or the nearest
    enclosing field that is there (a missing key points at its parent). None when nothing matches."""
    try:
        node: yaml.Node | None = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = None
    for part in _parts(path):
        child: yaml.Node | None = None
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        if child is None:
            break
        node = child
    return line


def issues_placed(text: str, issues: list[FieldIssue]) -> list[PlacedIssue]:
    return [PlacedIssue(i.field, i.message, line_of(text, i.field)) for i in issues]
