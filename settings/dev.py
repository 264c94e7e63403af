from settings.base import *  # noqa: F403

# The demo publishes its sample collection (titles included) in the transparency report.
GOVAI = {**GOVAI, "TRANSPARENCY": {"COLLECTIONS": ["sample"]}}  # noqa: F405
