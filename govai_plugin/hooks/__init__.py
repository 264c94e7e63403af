"""Pluggy hook specifications and the plugin manager.

Plugins import :data:`hookimpl` from here::

    from govai_plugin.hooks import hookimpl

    @hookimpl
    def govai_chunk_document(document, size, overlap):
        ...
"""

import pluggy

PROJECT_NAME = "govai"
ENTRY_POINT_GROUP = "govai"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]
