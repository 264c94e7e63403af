"""Meta-tests that keep docs and layering honest."""

from __future__ import annotations

import ast
import inspect
import re

from govai_plugin.conf import DEFAULTS
from govai_plugin.hooks import hookspecs
from tests.conftest import ROOT

HOOKS = sorted(name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("govai_"))


def test_there_are_hooks_for_every_pipeline_step():
    for step in ("extract_text", "chunk_document", "embed_texts", "retrieve", "rerank", "build_prompt", "generate",
                 "guard_input", "check_output", "register_adapters", "register_use_cases"):
        assert f"govai_{step}" in HOOKS


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    undocumented = [hook for hook in HOOKS if f"### `{hook}`" not in docs]
    assert not undocumented, f"add these to docs/hooks.md: {undocumented}"


def test_every_hook_has_a_test_named_after_it():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    untested = [hook for hook in HOOKS if not re.search(rf"def test_{hook}\b", tests)]
    assert not untested, f"write test_<hook> for: {untested}"


def test_every_hook_spec_is_typed_and_has_a_docstring():
    for hook in HOOKS:
        spec = getattr(hookspecs, hook)
        assert spec.__doc__ and ":returns:" in spec.__doc__, hook
        assert "return" in spec.__annotations__, hook


def _setting_names():
    for key, value in DEFAULTS.items():
        yield key
        if isinstance(value, dict):
            for sub in value:
                yield f"{key}.{sub}"


def test_every_setting_is_documented():
    docs = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in _setting_names() if f"`{name}`" not in docs]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_hooks_are_called_only_from_services():
    offenders = []
    for path in (ROOT / "govai_plugin").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("govai_plugin/services/", "govai_plugin/hooks/")):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "govai_plugin.hooks.manager":
                offenders.append(rel)
            if isinstance(node, ast.Attribute) and node.attr == "hook" and isinstance(node.value, (ast.Name, ast.Attribute)):
                offenders.append(rel)
    # Settings changes reset the manager; that is not a hook call.
    offenders = [o for o in offenders if o != "govai_plugin/conf.py"]
    assert not offenders, f"only govai_plugin/services/ may use the plugin manager: {sorted(set(offenders))}"


def test_error_ids_in_checks_are_documented():
    sources = [ROOT / "govai_plugin" / "checks.py", *sorted((ROOT / "adapters").glob("*/checks.py"))]
    source = "\n".join(path.read_text() for path in sources)
    docs = (ROOT / "docs" / "configuration.md").read_text()
    ids = {f"govai.E{int(n):03d}" for n in re.findall(r"_error\(\s*(\d+)", source)}
    ids |= set(re.findall(r'id="(govai\.W\d+)"', source))
    missing = sorted(i for i in ids if i not in docs)
    assert not missing, f"document these check ids in docs/configuration.md: {missing}"
