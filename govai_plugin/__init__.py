"""govai-plugin: grounded generative-AI assistance for public services."""

__version__ = "0.1.0"
