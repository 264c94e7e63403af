"""The plugin manager and a typed facade over ``pm.hook``.

Only :mod:`govai_plugin.services` uses :func:`get_hooks`; everything else goes
through a service. Plugins come from the entry-point group ``govai`` (the
built-in defaults too) and from dotted module paths in ``GOVAI["PLUGINS"]``;
names in ``GOVAI["BLOCKED_PLUGINS"]`` or ``GOVAI_BLOCKED_PLUGINS`` are skipped.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from govai_plugin.exceptions import ConfigurationError, UnsupportedFormat
from govai_plugin.hooks import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from govai_plugin.pii import PiiPattern
from govai_plugin.types import (
    AdapterSpec,
    ChunkDraft,
    ExtractionResult,
    Generation,
    GenerationParams,
    GuardFinding,
    Judgement,
    OutputFinding,
    Prompt,
    SearchHit,
    SearchQuery,
    SourceFile,
    UseCase,
)

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def build_plugin_manager() -> pluggy.PluginManager:
    """Create a manager with every allowed plugin loaded and checked."""
    from govai_plugin.conf import govai_settings

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in govai_settings.blocked_plugins:
        pm.set_blocked(name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for dotted in govai_settings.PLUGINS:
        if pm.is_blocked(dotted) or pm.get_plugin(dotted) is not None:
            continue
        try:
            module = importlib.import_module(dotted)
        except ImportError as exc:
            raise ConfigurationError(f"GOVAI['PLUGINS'] names {dotted!r}, which cannot be imported: {exc}") from exc
        pm.register(module, name=dotted)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(f"A plugin implements a hook that does not exist: {exc}") from exc
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    global _manager
    with _lock:
        if _manager is None:
            _manager = build_plugin_manager()
        return _manager


def reset_plugin_manager() -> None:
    """Forget the manager; the next use rebuilds it (after a settings change)."""
    global _manager
    with _lock:
        _manager = None


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    distribution: str
    hooks: tuple[str, ...]
    module: str


def _call_args(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> list[Any]:
    return [kwargs[name] for name in impl.argnames]


class Hooks:
    """One typed method per hook. Methods turn "no plugin answered" into errors."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- ingestion ----------------------------------------------------------
    def extract_text(self, source: SourceFile) -> ExtractionResult:
        result = self.pm.hook.govai_extract_text(source=source)
        if result is None:
            raise UnsupportedFormat(source.name, f"no extractor handles {source.extension or 'files without an extension'!r}")
        return result

    def chunk_document(self, document, size: int, overlap: int) -> list[ChunkDraft]:
        chunks = self.pm.hook.govai_chunk_document(document=document, size=size, overlap=overlap)
        if chunks is None:
            raise ConfigurationError("No plugin implements govai_chunk_document (is the default blocked?)")
        return chunks

    def embed_texts(self, texts: list[str], purpose: str) -> list[list[float]]:
        vectors = self.pm.hook.govai_embed_texts(texts=texts, purpose=purpose)
        if vectors is None:
            raise ConfigurationError("No plugin embeds with the configured GOVAI['EMBEDDINGS']['BACKEND']")
        return vectors

    def detect_language(self, text: str, kind: str) -> tuple[str, float] | None:
        """``(code, confidence)``, or ``None`` when no plugin can tell (``"und"`` counts as unsure)."""
        result = self.pm.hook.govai_detect_language(text=text, kind=kind)
        if result is None:
            return None
        if (not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[0], str)
                or not isinstance(result[1], (int, float)) or isinstance(result[1], bool)):
            raise ConfigurationError(f"A govai_detect_language plugin returned {result!r}, not (code, confidence)")
        code, confidence = result[0].strip().lower(), float(result[1])
        if not code or len(code) > 16 or not all(part.isalnum() and part.isascii() for part in code.split("-")):
            raise ConfigurationError(f"A govai_detect_language plugin returned the language code {result[0]!r}")
        if code == "und":
            return None
        return code, min(1.0, max(0.0, confidence))

    # -- retrieval ----------------------------------------------------------
    def retrieve(self, query: SearchQuery, embedding: list[float] | None) -> list[SearchHit]:
        hits = self.pm.hook.govai_retrieve(query=query, embedding=embedding)
        if hits is None:
            raise ConfigurationError("No plugin implements govai_retrieve (is the default blocked?)")
        return hits

    def rerank(self, query: SearchQuery, hits: list[SearchHit]) -> list[SearchHit]:
        reranked = self.pm.hook.govai_rerank(query=query, hits=hits)
        return hits if reranked is None else reranked

    def translate_query(self, text: str, source_language: str | None, target_language: str) -> str | None:
        return self.pm.hook.govai_translate_query(text=text, source_language=source_language,
                                                  target_language=target_language)

    # -- asking -------------------------------------------------------------
    def guard_input(self, text: str, context: dict[str, Any]) -> list[GuardFinding]:
        findings: list[GuardFinding] = []
        for result in self.pm.hook.govai_guard_input(text=text, context=context):
            findings.extend(result or [])
        return findings

    def pii_patterns(self) -> list[PiiPattern]:
        patterns: list[PiiPattern] = []
        for result in self.pm.hook.govai_register_pii_patterns():
            patterns.extend(result or [])
        return patterns

    def build_prompt(self, use_case: UseCase, question: str, sources: list[SearchHit], context: dict[str, Any]) -> Prompt:
        prompt = self.pm.hook.govai_build_prompt(use_case=use_case, question=question, sources=sources, context=context)
        if prompt is None:
            raise ConfigurationError("No plugin implements govai_build_prompt (is the default blocked?)")
        return prompt

    def judge_answerability(self, question: str, sources: list[SearchHit], context: dict[str, Any]) -> Judgement | None:
        """``None`` when no plugin judges (the default is blocked): the step is skipped."""
        return self.pm.hook.govai_judge_answerability(question=question, sources=sources, context=context)

    def generate(self, prompt: Prompt, params: GenerationParams) -> Generation:
        generation = self.pm.hook.govai_generate(prompt=prompt, params=params)
        if generation is None:
            raise ConfigurationError("No plugin implements govai_generate (is the default blocked?)")
        return generation

    def check_output(self, answer: str, sources: list[SearchHit], context: dict[str, Any]) -> tuple[str, list[OutputFinding]]:
        """Run every output check in call order; each sees the previous one's text."""
        findings: list[OutputFinding] = []
        text = answer
        caller = self.pm.hook.govai_check_output
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order
            kwargs = {"answer": text, "sources": sources, "context": context}
            for finding in impl.function(*_call_args(impl, kwargs)) or []:
                findings.append(finding)
                if finding.replacement_text is not None:
                    text = finding.replacement_text
        return text, findings

    # -- registration -------------------------------------------------------
    def adapters(self) -> dict[str, AdapterSpec]:
        found: dict[str, AdapterSpec] = {}
        for specs in self.pm.hook.govai_register_adapters():
            for spec in specs or []:
                if spec.name in found:
                    raise ConfigurationError(f"Two plugins register an adapter named {spec.name!r}")
                found[spec.name] = spec
        return found

    def use_cases(self) -> dict[str, UseCase]:
        found: dict[str, UseCase] = {}
        # Results come in call order (user plugins before trylast defaults):
        # the first registration of a slug wins.
        for cases in self.pm.hook.govai_register_use_cases():
            for case in cases or []:
                found.setdefault(case.slug, case)
        return found

    # -- introspection ------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or []))
            dist = dists.get(id(plugin))
            infos.append(
                PluginInfo(
                    name=name,
                    version=getattr(dist, "version", "") or _module_version(plugin),
                    distribution=_dist_name(dist),
                    hooks=hooks,
                    module=getattr(plugin, "__name__", repr(plugin)),
                )
            )
        return sorted(infos, key=lambda i: i.name)

    def blocked(self) -> list[str]:
        return sorted(name for name, plugin in self.pm.list_name_plugin() if plugin is None)


def _dist_name(dist: Any) -> str:
    if dist is None:
        return ""
    try:
        return dist.metadata["Name"]
    except (KeyError, AttributeError):
        return getattr(dist, "project_name", "")


def _module_version(plugin: Any) -> str:
    version = getattr(plugin, "__version__", "")
    if version:
        return str(version)
    top = getattr(plugin, "__name__", "").split(".")[0]
    try:
        return metadata.version(top)
    except metadata.PackageNotFoundError:
        return ""


def get_hooks() -> Hooks:
    return Hooks(get_plugin_manager())
