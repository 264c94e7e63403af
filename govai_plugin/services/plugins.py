"""Which plugins are loaded, and what they register."""

from __future__ import annotations

from govai_plugin.hooks.manager import PluginInfo, get_hooks
from govai_plugin.types import AdapterSpec, UseCase


def list_plugins() -> list[PluginInfo]:
    return get_hooks().plugins()


def blocked_plugins() -> list[str]:
    return get_hooks().blocked()


def adapters() -> dict[str, AdapterSpec]:
    return get_hooks().adapters()


def use_cases() -> dict[str, UseCase]:
    return get_hooks().use_cases()
