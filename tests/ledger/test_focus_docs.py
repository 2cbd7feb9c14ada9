"""docs/focus.md shows the column mapping exactly as the code has it (one table, rendered)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from ledger.exports.focus_columns import COLUMNS, FOCUS_VERSION, mapping_table_markdown


def test_the_docs_render_the_column_mapping_table_of_the_code():
    page = (Path(settings.BASE_DIR) / "docs" / "focus.md").read_text()

    assert mapping_table_markdown() in page
    assert f"FOCUS {FOCUS_VERSION}" in page


def test_every_own_column_is_x_prefixed_and_every_focus_column_is_pascal_case():
    ours = [c.name for c in COLUMNS if c.level == "Custom"]
    focus = [c.name for c in COLUMNS if c.level != "Custom"]

    assert all(name.startswith("x_") for name in ours)
    assert all(name[0].isupper() and name.isalnum() for name in focus)
