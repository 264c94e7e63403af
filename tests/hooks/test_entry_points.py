"""A third-party plugin installed as a distribution replaces a default without touching core code."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from django.core.management import call_command

from govai_plugin.hooks.manager import reset_plugin_manager
from govai_plugin.services.ingest import ingest_bytes
from govai_plugin.services.plugins import blocked_plugins, list_plugins

PLUGIN = '''
from govai_plugin.hooks import hookimpl
from govai_plugin.types import ChunkDraft

__version__ = "1.2.3"

@hookimpl
def govai_chunk_document(document, size, overlap):
    text = document.text
    return [ChunkDraft(text, "whole document", 0, len(text))]
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A real distribution on sys.path: a module plus dist-info with an entry point in group 'govai'."""
    (tmp_path / "acme_whole_chunker.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "acme_whole_chunker-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-whole-chunker\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[govai]\nacme.chunker = acme_whole_chunker\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    reset_plugin_manager()
    yield "acme.chunker"
    sys.modules.pop("acme_whole_chunker", None)
    reset_plugin_manager()


def test_entry_point_plugin_replaces_the_default_chunker(installed_plugin, collection):
    names = {p.name: p for p in list_plugins()}
    assert names[installed_plugin].version == "1.2.3" and names[installed_plugin].distribution == "acme-whole-chunker"
    assert names[installed_plugin].hooks == ("govai_chunk_document",)
    body = b"# Policy\n\n## 1. A\n\nFirst.\n\n## 2. B\n\nSecond.\n"
    doc = ingest_bytes(collection, "p.md", body)[0].document
    assert list(doc.chunks.values_list("heading_path", flat=True)) == ["whole document"]


def test_blocked_plugin_is_not_loaded(installed_plugin, collection, settings):
    settings.GOVAI = {"BLOCKED_PLUGINS": [installed_plugin]}
    assert installed_plugin not in {p.name for p in list_plugins()}
    assert installed_plugin in blocked_plugins()
    doc = ingest_bytes(collection, "p.md", b"# Policy\n\n## 1. A\n\nFirst.\n\n## 2. B\n\nSecond.\n")[0].document
    assert doc.chunks.count() == 2  # the default chunker again


def test_blocking_by_environment_variable(monkeypatch):
    monkeypatch.setenv("GOVAI_BLOCKED_PLUGINS", "default.rerank, default.guard")
    reset_plugin_manager()
    try:
        loaded = {p.name for p in list_plugins()}
        assert "default.rerank" not in loaded and "default.guard" not in loaded and "default.chunk" in loaded
    finally:
        monkeypatch.delenv("GOVAI_BLOCKED_PLUGINS")
        reset_plugin_manager()


def test_plugin_with_a_misspelt_hook_fails_at_start_up(tmp_path, monkeypatch, settings):
    from govai_plugin.checks import check_plugins

    (tmp_path / "typo_plugin.py").write_text(
        "from govai_plugin.hooks import hookimpl\n\n@hookimpl\ndef govai_chunk_documents(document):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.GOVAI = {"PLUGINS": ["typo_plugin"]}
    errors = check_plugins()
    assert [e.id for e in errors] == ["govai.E050"] and "govai_chunk_documents" in errors[0].msg
    settings.GOVAI = {"PLUGINS": ["no_such_module_here"]}
    assert "cannot be imported" in check_plugins()[0].msg


def test_govai_plugins_command_lists_plugins_versions_and_hooks(installed_plugin, capsys):
    call_command("govai_plugins")
    out = capsys.readouterr().out
    assert "acme.chunker" in out and "acme-whole-chunker 1.2.3" in out
    assert "default.retrieve" in out and "govai_retrieve" in out
    assert "use cases: case_summary, caseworker_qa, citizen_reply" in out
