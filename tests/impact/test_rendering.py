"""The impact report as text and Markdown: names and reasons show as written, whatever they hold.

A CI gate prints the table into its log and posts the Markdown as a pull-request comment, and the
names in them come from whoever emits lineage: a backtick, a pipe or a bracket in one must not
end its code span, split its table row or become a link, and a control character must not reach
the terminal.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from headwater.impact_cli import Section, render_markdown, render_table

HOSTILE = (
    "db.or`ders",
    "``db|x``",
    "a|b [link](https://example.test) <b>bold</b> *em* _u_ ~~s~~ &amp; \\ !x",
)
# Each written as its escape: \x1b[2J would clear the screen, U+202E reverses what follows.
UNPRINTABLE = ("db.\x1b[2Jorders", "db.\u202egnp.exe", "db.or\nders", "db.\x85\x00x", "a\u2028b")


def _report(name: str) -> dict[str, Any]:
    item = {
        "rank": 1,
        "severity": "breaking",
        "status": "affected",
        "qualified_name": name,
        "pii": False,
        "type": "table",
        "distance": 1,
        "owners": [name],
        "reason": f"reads {name}",
        "path": [],
    }
    return {
        "severity": "breaking",
        "changes": [{"kind": "drop_column", "column": name, "severity": "breaking",
                     "assessment": name}],
        "summary": {
            "assets": 1, "by_severity": {"breaking": 1, "warning": 0}, "possibly_affected": 0,
            "columns": 1, "exposures": [], "jobs": [], "owners": [name],
        },
        "items": [item],
        "notes": [name],
    }  # fmt: skip


def _texts(tokens: list[Token]) -> list[str]:
    """The text of every table cell, list item and quote, as a reader sees it."""
    found = []
    for token in tokens:
        if token.type == "inline":
            found.append("".join(c.content for c in token.children or []))
    return found


def test_names_show_as_written_in_headings_cells_and_lines() -> None:
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    for name in HOSTILE:
        shown = name
        text = render_markdown("breaking", [Section(name, _report(name))], [], 10)
        tokens = md.parse(text)
        texts = _texts(tokens)
        # No markup came out of a name: no link, emphasis, HTML or strikethrough anywhere.
        kinds = {c.type for t in tokens if t.type == "inline" for c in t.children or []}
        assert kinds <= {"text", "code_inline", "strong_open", "strong_close", "softbreak"}, (
            name,
            kinds,
        )
        # The heading, the table's Asset, Owners and Why cells, and the plain lines say it whole.
        assert f":x: {shown}" in texts, (name, texts)
        row = next(i for i, t in enumerate(texts) if t == "1")
        assert texts[row + 2 : row + 7] == [shown, "table", "1", shown, f"reads {shown}"], texts
        assert f"owners to notify: {shown}" in texts
        assert shown in texts  # the note


def test_control_and_bidi_characters_are_shown_as_escapes() -> None:
    for name in UNPRINTABLE:
        escaped = name.encode("unicode_escape").decode()
        for render in (render_table, render_markdown):
            text = render("breaking", [Section(name, _report(name))], [name], 10)
            assert not any(c in text for c in "\x1b\u202e\x85\x00\u2028"), (render, name)
            assert escaped in text, (render, name)
        table = render_table("breaking", [Section(name, _report(name))], [], 10)
        row = next(line for line in table.splitlines() if line.startswith("1 "))
        assert escaped in row  # one row, not split by a newline in the name
