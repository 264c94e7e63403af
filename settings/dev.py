from settings.base import *  # noqa: F403
