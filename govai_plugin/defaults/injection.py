"""Built-in prompt-injection screen (hook ``govai_guard_input``).

Refuses questions and case context that try to take over the model: instruction overrides
("ignore the previous instructions"), requests for the system prompt, role-play and
"developer mode" jailbreaks, in English, Estonian, Finnish, Swedish, Dutch, German, French,
Spanish and Russian; the same hidden in base64 or ROT13; and text hidden with zero-width or
tag characters. :func:`screen` is also used at ingestion, where a flagged passage is
quarantined instead of refused.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from typing import Any

from govai_plugin.hooks import hookimpl
from govai_plugin.types import GuardFinding

_I = re.IGNORECASE | re.UNICODE

OVERRIDES = [
    # English
    r"\b(ignore|disregard|forget)\b.{0,30}\b(previous|prior|above|earlier|preceding|all|your|these|those)\b.{0,20}"
    r"\b(instructions?|prompts?|guidelines|directions|messages?|rules)\b",
    r"\b(system|initial|hidden|original|developer)\s+(prompt|instructions?|message)\b",
    r"\b(reveal|show|print|repeat|output|display|tell me|what (is|are|were))\b.{0,40}\byour\b.{0,20}\b(prompt|instructions|rules)\b",
    r"\byou are now (a|an|the|in|my|dan)\b|\byou are no longer (bound|restricted|an? (ai|assistant|model))\b|"
    r"\bfrom now on,? you (will|must|are|should|shall) (answer|respond|act|ignore|only|be)\b|\bnew (instructions|rules|role)\s*:",
    r"\b(pretend|act|behave|roleplay|role-play)\b.{0,20}\b(as|like|to be)\b.{0,30}\b(unrestricted|uncensored|evil|hacker|dan|"
    r"jailbroken|without (rules|limits|restrictions)|admin|root|developer)\b",
    r"\b(developer|god|dan|jailbreak|unrestricted)\s+mode\b|\bdo anything now\b",
    r"</?\s*(system|assistant|source)\s*>|\[/?(system|inst)\]|<\|im_(start|end)\|>",
    # Estonian, Finnish, Swedish, Dutch, German, French, Spanish, Russian
    r"\b(ignoreeri|eira|unusta)\b.{0,40}\b(eelmisi|varasemaid|kõiki|eelnevaid)?\s*\b(juhiseid|juhised|reegleid)\b",
    r"\b(ohita|unohda)\b.{0,40}\b(aiemmat|edelliset|kaikki)?\s*\b(ohjeet|ohjeita|säännöt)\b",
    r"\b(ignorera|glöm|strunta i)\b.{0,40}\b(tidigare|alla|föregående)?\s*\b(instruktioner|instruktionerna|regler|reglerna)\b",
    r"\b(negeer|vergeet)\b.{0,40}\b(vorige|eerdere|alle)?\s*\b(instructies|regels)\b",
    r"\b(ignoriere|vergiss|missachte)\b.{0,40}\b(vorherigen|bisherigen|alle)?\s*\b(anweisungen|regeln|instruktionen)\b",
    r"\b(ignore|oublie)[sz]?\b.{0,40}\b(instructions|consignes|règles)\b.{0,20}\b(précédentes|antérieures)?",
    r"\b(ignora|olvida)\b.{0,40}\b(instrucciones|reglas)\b",
    r"(игнорируй|забудь|проигнорируй).{0,40}(инструкции|правила|указания)",
    r"\b(süsteemi|järjestelmä|system)(viip|kehote|prompt)\w*\b",
]
_OVERRIDE = re.compile("|".join(f"(?:{p})" for p in OVERRIDES), _I)
# Zero-width space, word joiner and invisible operators, BOM, Unicode tag characters. Not ZWNJ/ZWJ
# or direction marks: Persian, Indic scripts, emoji and right-to-left text use them.
_HIDDEN = re.compile(r"[\u200b\u2060-\u2064\ufeff\U000e0000-\U000e007f]")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/])")


def screen(text: str) -> list[tuple[str, str]]:
    """(kind, what) for each injection sign in ``text``; empty when clean."""
    found: list[tuple[str, str]] = []
    normalised = unicodedata.normalize("NFKC", text)
    hidden = _HIDDEN.findall(normalised)
    if len(hidden) >= 2:
        found.append(("hidden_text", f"{len(hidden)} invisible characters (zero-width or tag characters)"))
        normalised = _HIDDEN.sub("", normalised)
    match = _OVERRIDE.search(normalised)
    if match:
        found.append(("instruction_override", match.group(0)[:80]))
    for blob in _BASE64.findall(normalised):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if _OVERRIDE.search(decoded):
            found.append(("encoded_instructions", "base64: " + decoded[:60]))
            break
    rot = codecs.decode(normalised, "rot13")
    if not match and _OVERRIDE.search(rot):
        found.append(("encoded_instructions", "rot13: " + _OVERRIDE.search(rot).group(0)[:60]))
    return found


@hookimpl(trylast=True)
def govai_guard_input(text: str, context: dict[str, Any]) -> list[GuardFinding]:
    return [
        GuardFinding(kind="prompt_injection", block=True,
                     message=f"it looks like an attempt to instruct the assistant ({kind}: {what!r}); "
                             "ask your question without instructions to the model")
        for kind, what in screen(text)[:1]
    ]
