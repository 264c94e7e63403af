"""Built-in answerability judge: a one-token yes/no question to the generation server.

The server is asked whether the numbered sources contain the answer to the question,
with ``max_tokens=1``, temperature 0 and ``logprobs=True, top_logprobs=20`` through the
OpenAI-compatible Messages API (``huggingface_hub.InferenceClient.chat_completion``).
P(yes) is the probability mass of the first token's "yes" spellings divided by the mass
of its "yes" and "no" spellings among the top log-probabilities (so mass spent on other
tokens, e.g. a stray "The", does not count as "no"). The judge is told to answer in
English, whatever the question's language; the usual one-word answers in other languages
count too, in case the model follows the question's language instead.

The messages are the answer's own prompt with the yes/no question appended to its last
user message: the server's prompt cache (llama-server, vLLM's prefix caching, TGI) then
serves the long common prefix to the generation call that follows, so the step costs
little more than the question's own tokens.

Servers: llama.cpp's ``llama-server``, vLLM and OpenAI return ``logprobs`` on
``/v1/chat/completions``; TGI does too (``top_logprobs`` at most 5: a refused 20 is asked again
with 5). A server that returns none, or refuses the parameters (HTTP 4xx), gives ``p_yes=None``: the step is
skipped and the answer goes on. Down, slow or 5xx raise :class:`GenerationUnavailable`,
which the answer service retries like generation.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from huggingface_hub.errors import HTTPError as TransportHTTPError

from govai_plugin.conf import govai_settings
from govai_plugin.defaults.generate import server
from govai_plugin.exceptions import GenerationUnavailable
from govai_plugin.hooks import hookimpl
from govai_plugin.types import Judgement, SearchHit

QUESTION = "Do these numbered sources contain the answer to the question? Answer yes or no, in English, in one word."
#: Alternatives asked for at the first position: 20 (OpenAI's and vLLM's maximum), and 5 where a
#: server refuses that (TGI's maximum). Small models spread their mass over many spellings.
TOP_LOGPROBS = (20, 5)
_ACCEPTED_TOP: dict[str, int] = {}  # base URL -> the top_logprobs it accepted
#: One-word answers, lower-cased without accents' marks stripped, spaces or punctuation.
#: English first (the judge is asked for it); the others catch a model that answers in the
#: question's language.
YES = frozenset({"yes", "ja", "jah", "jaa", "kylla", "kyllä", "oui", "si", "sí", "sim", "да", "tak", "evet",
                 "نعم", "是", "はい", "ndiyo", "igen", "ano", "áno", "taip", "jā", "da", "ναι", "כן"})
NO = frozenset({"no", "nein", "nee", "nej", "ei", "non", "não", "nao", "нет", "не", "nie", "hayır", "hayir", "لا",
                "否", "不", "いいえ", "hapana", "nem", "ne", "όχι", "לא"})


def spelling(token: str) -> str:
    """A token as a bare word: no byte-pair space markers, spaces, punctuation or case."""
    token = unicodedata.normalize("NFC", token.replace("Ġ", " ").replace("▁", " "))
    return "".join(ch for ch in token if not unicodedata.category(ch).startswith(("P", "Z", "C", "S"))).lower()


def p_yes(candidates: list[tuple[str, float]]) -> tuple[float | None, float]:
    """P(yes) from ``(token, logprob)`` pairs of the first position; ``(None, 0)`` when no
    candidate spells yes or no. Also returns the yes+no mass (how sure the model was it
    answers yes/no at all)."""
    seen: dict[str, float] = {}
    for token, logprob in candidates:
        if token not in seen and logprob is not None and math.isfinite(logprob):
            seen[token] = math.exp(logprob)
    yes = sum(p for token, p in seen.items() if spelling(token) in YES)
    no = sum(p for token, p in seen.items() if spelling(token) in NO)
    if yes + no <= 0:
        return None, 0.0
    return yes / (yes + no), yes + no


def judge_messages(question: str, sources: list[SearchHit], messages: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """The answer's prompt with the yes/no question appended to its last user message, or a
    plain prompt from the sources when there is none."""
    if messages and messages[-1].get("role") == "user":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{QUESTION}"}]
    numbered = "\n\n".join(f"[{n}] {hit.document_title}\n{hit.text}" for n, hit in enumerate(sources, start=1))
    return [{"role": "user", "content": f"Sources:\n\n{numbered}\n\nQuestion: {question}\n\n{QUESTION}"}]


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _candidates(choice: Any) -> list[tuple[str, float]] | None:
    """``(token, logprob)`` of the first generated position: its top alternatives and the token itself."""
    logprobs = _get(choice, "logprobs")
    content = _get(logprobs, "content") if logprobs is not None else None
    if not content:
        return None
    first = content[0]
    pairs = [(_get(t, "token"), _get(t, "logprob")) for t in (_get(first, "top_logprobs") or [])]
    if _get(first, "token") is not None:
        pairs.append((_get(first, "token"), _get(first, "logprob")))
    return [(str(token), float(logprob)) for token, logprob in pairs if token is not None and logprob is not None]


@hookimpl(trylast=True)
def govai_judge_answerability(question: str, sources: list[SearchHit], context: dict[str, Any]) -> Judgement:
    base_url, model_name = server()
    timeout = context.get("timeout") or govai_settings.LLM["TIMEOUT"]
    client = InferenceClient(base_url=base_url, api_key=govai_settings.LLM["API_KEY"] or None, timeout=timeout)
    messages = judge_messages(question, sources, context.get("messages"))
    top = _ACCEPTED_TOP.get(base_url, TOP_LOGPROBS[0])
    try:
        while True:
            try:
                output = client.chat_completion(messages=messages, model=model_name, max_tokens=1, temperature=0.0,
                                                logprobs=True, top_logprobs=top)
                break
            except HfHubHTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                smaller = [n for n in TOP_LOGPROBS if n < top]
                if not 400 <= status < 500 or status in (408, 429) or not smaller:
                    raise
                top = smaller[0]  # e.g. TGI takes at most 5
        _ACCEPTED_TOP[base_url] = top
    except InferenceTimeoutError as exc:
        raise GenerationUnavailable(f"The text-generation server did not answer within {timeout:g} s (the answerability question).") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status in (408, 429):
            raise GenerationUnavailable(f"The text-generation server answered HTTP {status} to the answerability question.") from exc
        return Judgement(None, model_name, f"the server refused a request with log-probabilities (HTTP {status})")
    except TransportHTTPError as exc:
        raise GenerationUnavailable(f"The text-generation server is unreachable: {exc}") from exc
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        return Judgement(None, model_name, f"the server's reply is not a chat completion: {exc}")
    try:
        candidates = _candidates(output.choices[0])
    except (IndexError, AttributeError, TypeError, ValueError):
        candidates = None
    if candidates is None:
        return Judgement(None, model_name, "the server returns no token log-probabilities")
    probability, mass = p_yes(candidates)
    if probability is None:
        tokens = ", ".join(repr(t) for t, _ in candidates[:5])
        return Judgement(None, model_name, f"the model answered neither yes nor no (first tokens {tokens})")
    return Judgement(round(probability, 6), model_name, f"yes/no mass {mass:.3f} in the top {top} tokens")
