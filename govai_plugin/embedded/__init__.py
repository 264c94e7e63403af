"""Services the project starts by itself when the host configures none."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(default: str | os.PathLike[str] | None = None) -> Path:
    """Where embedded services keep their data: ``GOVAI_DATA_DIR``, else ``default``, else ``./.govai``."""
    chosen = os.environ.get("GOVAI_DATA_DIR") or default or Path.cwd() / ".govai"
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
