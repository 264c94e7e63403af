"""docs/standards.md names, for each clause the project claims, the test that proves it. These
tests keep it honest: every test it names exists, every row names a test or says "not
covered", every claimed clause has a row. And the LICENSE is the licence pyproject declares."""

from __future__ import annotations

import ast
import hashlib
import re
import tomllib
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

DOC = ROOT / "docs" / "standards.md"
#: A pytest node id: file, optional class, function, optional parameters ("[...]").
TEST_ID = re.compile(r"(tests/[\w/]+\.py)::((?:\w+::)?\w+)(?:\[[^\]`|]*\])?")
NOT_COVERED = "not covered"
#: Clauses the project claims (issue 10): each must open a row of the page.
CLAIMED = (
    [f"LLM{n:02d}" for n in range(1, 11)]
    + ["Art. 12", "Art. 14", "Art. 50", "Art. 86", "Art. 5(1)(c)", "Art. 17", "Art. 22"]
    + [f"{n} " for n in range(1, 9)] + ["9A", "9B", "9C"]
)
SECTIONS = ("PR-MESS", "PR-REST", "OpenAPI 3", "EU AI Act", "GDPR", "OWASP Top 10 for LLM", "Digital Public Goods Standard")
#: SHA-256 of the Apache License 2.0 text as the Apache Software Foundation publishes it.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def named_tests(text: str) -> set[str]:
    """Every test id in ``text``, parameters dropped (a parametrised test counts by its name)."""
    return {f"{path}::{name}" for path, name in TEST_ID.findall(text)}


@cache
def defined_tests(path: str) -> frozenset[str]:
    """``file::function`` and ``file::Class::method`` for each test function in a test file."""
    file = ROOT / path
    if not file.is_file():
        return frozenset()
    found = set()
    for node in ast.parse(file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(f"{path}::{node.name}")
        elif isinstance(node, ast.ClassDef):
            found |= {f"{path}::{node.name}::{f.name}" for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return frozenset(name for name in found if name.rsplit("::", 1)[1].startswith("test"))


def missing(ids: set[str]) -> list[str]:
    """The ids among ``ids`` that name no test in the suite."""
    return sorted(i for i in named_tests(" ".join(ids)) if i not in defined_tests(i.split("::", 1)[0]))


def rows(text: str) -> list[list[str]]:
    """The body rows of every table: cells, stripped (header and separator rows left out)."""
    lines = [line.strip() for line in text.splitlines()]
    found = []
    for i, line in enumerate(lines):
        is_row = line.startswith("|") and not set(line) <= set("|-: ")
        is_header = i + 1 < len(lines) and lines[i + 1].startswith("|") and set(lines[i + 1]) <= set("|-: ")
        if is_row and not is_header:
            found.append([cell.strip() for cell in line.strip("|").split("|")])
    return found


def test_every_test_named_in_standards_md_exists():
    ids = named_tests(DOC.read_text(encoding="utf-8"))
    assert len(ids) >= 40, sorted(ids)
    assert not missing(ids), f"docs/standards.md names tests that do not exist (renamed or removed?): {missing(ids)}"


def test_a_renamed_or_removed_test_would_be_reported():
    real = "tests/test_audit.py::test_tampering_is_found"
    gone = {"tests/test_audit.py::test_tampering_is_no_longer_found", "tests/test_nothing_here.py::test_x"}
    assert missing({real, *gone}) == sorted(gone)
    assert missing({"tests/test_answers.py::test_bad_questions_are_refused[kwargs0-empty]"}) == []  # parametrised
    assert missing({"tests/test_answers.py::wait_final"}) == ["tests/test_answers.py::wait_final"]  # a helper is no test


def test_every_row_names_a_test_or_says_not_covered():
    table = rows(DOC.read_text(encoding="utf-8"))
    assert len(table) >= 40
    unproved = [row[0] for row in table if not named_tests(row[-1]) and NOT_COVERED not in row[-1].lower()]
    assert not unproved, f"rows with neither a test nor 'not covered': {unproved}"


def test_every_claimed_clause_has_a_row():
    text = DOC.read_text(encoding="utf-8")
    first_cells = [row[0] for row in rows(text)]
    absent = [c for c in CLAIMED if not any(cell.startswith(c) for cell in first_cells)]
    assert not absent, f"claimed clauses without a row in docs/standards.md: {absent}"
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert all(any(s in h for h in headings) for s in SECTIONS), headings


def test_the_licence_file_is_the_apache_2_text_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert declared == "Apache-2.0"
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256, "LICENSE is not the unmodified Apache-2.0 text"


def test_security_policy_says_how_to_report_and_what_is_supported():
    policy = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    for heading in ("## Reporting a vulnerability", "## Supported versions", "## Scope"):
        assert heading in policy
    assert "Report a vulnerability" in policy and "do not report a vulnerability in a public issue" in policy
