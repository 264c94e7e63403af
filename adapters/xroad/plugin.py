"""The X-Road adapter as a govai plugin (entry point ``adapters.xroad``).

The provider side is a Django app (add ``"adapters.xroad"`` to ``INSTALLED_APPS`` and
include ``adapters.xroad.urls``); the consumer is offered here so that services and
other adapters can look it up by name instead of importing it.
"""

from __future__ import annotations

from govai_plugin.hooks import hookimpl
from govai_plugin.types import AdapterSpec


def _consumer():
    from adapters.xroad.consumer import XRoadConsumer

    return XRoadConsumer.from_settings()


@hookimpl
def govai_register_adapters() -> list[AdapterSpec]:
    return [
        AdapterSpec(
            name="xroad",
            kind="x-road",
            description="Calls other X-Road members' REST and SOAP services through this institution's "
                        "Security Server (GOVAI['XROAD']), with metaservice discovery.",
            factory=_consumer,
        )
    ]
