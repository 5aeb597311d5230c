"""Every Cypher statement passes Neo4j's own linter (``@neo4j-cypher/language-support``, run by
``tools/cypher-lint/lint.mjs``) with its declared parameters and the graph schema: no error, no
warning. Node.js and the linter's node_modules (``npm ci`` in tools/cypher-lint) are required:
their absence fails the test rather than skipping it."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINTER = ROOT / "tools" / "cypher-lint" / "lint.mjs"
LANGUAGE_SUPPORT = (
    ROOT / "tools" / "cypher-lint" / "node_modules" / "@neo4j-cypher" / "language-support"
)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the Cypher linter (tools/cypher-lint) needs it")
    if not LINTER.is_file() or not LANGUAGE_SUPPORT.is_dir():
        pytest.fail("the Cypher linter is missing: run `npm ci` in tools/cypher-lint")
    return node


def _lint(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run(
        [_node(), str(LINTER), "--strict", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, reports, done.stderr


def _packaged_statements() -> set[str]:
    folder = resources.files("headwater.cypher")
    return {entry.name for entry in folder.iterdir() if entry.name.endswith(".cypher")}


def test_every_statement_lints_clean() -> None:
    files = _packaged_statements()
    assert files, "no .cypher file found in headwater.cypher"
    returncode, reports, stderr = _lint()
    linted = {report["file"] for report in reports}
    assert len(linted) >= len(files)
    assert linted == files
    problems = {
        report["file"]: report["diagnostics"] for report in reports if report["diagnostics"]
    }
    assert problems == {}
    assert returncode == 0, stderr


def test_the_linter_rejects_a_bad_statement(tmp_path: Path) -> None:
    """The harness really fails: an undeclared parameter is an error, an unknown label a warning
    (which --strict also rejects)."""
    undeclared = tmp_path / "undeclared.cypher"
    undeclared.write_text(
        '// param: tenant_id = "t"\nMATCH (a:Asset {tenant_id: $tenant_id, id: $id})\n'
        "RETURN a.id AS id\n"
    )
    unknown_label = tmp_path / "unknown_label.cypher"
    unknown_label.write_text(
        '// param: tenant_id = "t"\nMATCH (a:Table {tenant_id: $tenant_id})\nRETURN a.id AS id\n'
    )
    returncode, reports, _ = _lint(str(undeclared), str(unknown_label))
    assert returncode == 1
    by_file = {report["file"]: report for report in reports}
    assert by_file["undeclared.cypher"]["errors"] == 1
    assert "$id" in by_file["undeclared.cypher"]["diagnostics"][0]["message"]
    assert by_file["unknown_label.cypher"]["errors"] == 0
    assert [d["severity"] for d in by_file["unknown_label.cypher"]["diagnostics"]] == ["warning"]
