"""Built-in generation on any TGI-compatible server through ``huggingface_hub.InferenceClient``.

Uses the OpenAI-compatible Messages API (``/v1/chat/completions``), which TGI,
vLLM and llama.cpp's ``llama-server`` all serve, so one client works for all.
Streams when the caller passes ``on_token``.
"""

from __future__ import annotations

import time

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from huggingface_hub.errors import HTTPError as TransportHTTPError

from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import GenerationError, GenerationUnavailable
from govai_plugin.hooks import hookimpl
from govai_plugin.types import Generation, GenerationParams, Prompt


def server() -> tuple[str, str]:
    """Base URL and model name: the configured server, else the embedded llama-server (started if needed)."""
    cfg = govai_settings.LLM
    if cfg["BASE_URL"]:
        return cfg["BASE_URL"].rstrip("/"), cfg["MODEL"]
    from govai_plugin.embedded import data_dir
    from govai_plugin.embedded import llm

    state = llm.ensure_running(
        data_dir(govai_settings.DATA_DIR or None) / "llm", cfg["EMBEDDED_MODEL"], cfg["EMBEDDED_THREADS"], cfg["EMBEDDED_CONTEXT"]
    )
    return state["url"], state["alias"]


@hookimpl(trylast=True)
def govai_generate(prompt: Prompt, params: GenerationParams) -> Generation:
    base_url, model_name = server()
    client = InferenceClient(base_url=base_url, api_key=govai_settings.LLM["API_KEY"] or None, timeout=params.timeout)
    started = time.perf_counter()
    try:
        if params.on_token is None:
            output = client.chat_completion(
                messages=prompt.messages, model=model_name, max_tokens=params.max_tokens, temperature=params.temperature
            )
            choice = output.choices[0]
            usage = getattr(output, "usage", None)
            return Generation(
                text=choice.message.content or "",
                model=getattr(output, "model", None) or model_name,
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                finish_reason=choice.finish_reason,
            )
        parts: list[str] = []
        chunks = 0
        first_token_at = None
        model = model_name
        finish_reason = None
        usage = None
        for chunk in client.chat_completion(
            messages=prompt.messages,
            model=model_name,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stream=True,
            stream_options={"include_usage": True},
        ):
            chunks += 1
            model = getattr(chunk, "model", None) or model
            usage = getattr(chunk, "usage", None) or usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish_reason = choice.finish_reason or finish_reason
            piece = choice.delta.content if choice.delta else None
            if piece:
                if first_token_at is None:
                    first_token_at = time.perf_counter() - started
                parts.append(piece)
                params.on_token(piece)
        if chunks == 0:
            raise GenerationError("The text-generation server answered with something that is not a chat completion stream.")
        if finish_reason is None:
            raise GenerationUnavailable("The generation stream ended before the server finished the answer.")
        return Generation(
            text="".join(parts),
            model=model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            finish_reason=finish_reason,
            time_to_first_token=first_token_at,
        )
    except InferenceTimeoutError as exc:
        raise GenerationUnavailable(f"The text-generation server did not answer within {params.timeout:g} s.") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status in (408, 429):
            raise GenerationUnavailable(f"The text-generation server answered HTTP {status}.") from exc
        raise GenerationError(f"The text-generation server refused the request: HTTP {status}.") from exc
    except TransportHTTPError as exc:
        raise GenerationUnavailable(f"The text-generation server is unreachable: {exc}") from exc
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise GenerationError(f"The text-generation server answered with something unusable: {exc}") from exc
