"""Every worked example of docs/pricing.md, run through `quote`: the documentation cannot drift.

An example is a heading `#### Example: <name>` followed, before the next heading, by exactly two
```json blocks: the quote input, then the expected output (at least `amount` and `amount_rounded`).
`load_doc_examples` is reused by tests/billing to run the same examples through `manage.py quote`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from billing.pricing import quote

DOC = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"
MIN_EXAMPLES = 21
_HEADING = re.compile(r"^#### Example: (?P<name>.+?)\s*$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,6} ", re.MULTILINE)
_JSON_BLOCK = re.compile(r"^```json[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def load_doc_examples(path: Path | str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, quote input, expected output) for every `#### Example:` section of the markdown file.

    Raises ValueError for a malformed section (not exactly two json blocks, expected output without
    `amount` / `amount_rounded`) or a duplicate name, so a typo cannot silently skip an example."""
    text = Path(path).read_text(encoding="utf-8")
    examples: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    headings = list(_HEADING.finditer(text))
    for match in headings:
        name = match.group("name")
        following = _ANY_HEADING.search(text, match.end())
        section = text[match.end() : following.start() if following else len(text)]
        blocks = [json.loads(m.group("body")) for m in _JSON_BLOCK.finditer(section)]
        if len(blocks) != 2:
            raise ValueError(
                f"example {name!r}: expected 2 json blocks (input, expected), found {len(blocks)}"
            )
        payload, expected = blocks
        if not {"amount", "amount_rounded"} <= set(expected):
            raise ValueError(f"example {name!r}: the expected block needs amount and amount_rounded")
        if any(name == seen for seen, _, _ in examples):
            raise ValueError(f"example {name!r} appears twice")
        examples.append((name, payload, expected))
    return examples


EXAMPLES = load_doc_examples(DOC)


def test_the_doc_has_at_least_three_examples_per_model():
    assert len(EXAMPLES) >= MIN_EXAMPLES
    models = [payload["price"]["model"] for _, payload, _ in EXAMPLES if "carried_quantity" not in payload]
    counts = {model: models.count(model) for model in set(models)}
    assert counts.keys() == {
        "per_unit",
        "graduated",
        "graduated_percentage",
        "volume",
        "package",
        "percentage",
        "flat",
    }
    assert min(counts.values()) >= 3


@pytest.mark.parametrize(("name", "payload", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_documented_example_is_what_quote_answers(name, payload, expected):
    result = quote(payload)

    assert {key: result[key] for key in expected} == expected


def test_the_loader_refuses_a_section_without_its_two_blocks(tmp_path):
    doc = tmp_path / "bad.md"
    doc.write_text('#### Example: lonely\n\n```json\n{"price": {}}\n```\n', encoding="utf-8")

    with pytest.raises(ValueError, match="expected 2 json blocks"):
        load_doc_examples(doc)


def test_the_loader_pairs_blocks_per_section(tmp_path):
    doc = tmp_path / "ok.md"
    doc.write_text(
        '#### Example: a\n\n```json\n{"x": 1}\n```\n\n```json\n'
        '{"amount": "1", "amount_rounded": "1.00"}\n```\n\n### Other\n\n```json\n{}\n```\n',
        encoding="utf-8",
    )

    assert load_doc_examples(doc) == [("a", {"x": 1}, {"amount": "1", "amount_rounded": "1.00"})]
