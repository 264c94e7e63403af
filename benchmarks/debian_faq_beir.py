"""Build multilingual BEIR folders from the Debian FAQ, shipped translated in Debian's packages.

    make bench-data        # apt-get download debian-faq debian-faq-{de,fr,it,nl,pt,ru}; dpkg-deb -x; this script
    python benchmarks/debian_faq_beir.py --out .govai/debian-faq [--source FAQ_DIR] [--unanswerable 0.15]
                                         [--languages de,fr,...] [--sample SHARE] [--smoke]

The Debian GNU/Linux FAQ (package ``debian-faq`` 11.1 and its translations, one package per
language) is a real FAQ: 144 sections in 15 chapters, most of them titled by a question
("What is Debian GNU/Linux?", "Wie spricht man Debian aus?") and answered by the section's text.
The translations keep the DocBook section ids, so the languages are aligned section by section.

* a **passage** is a section's own text (its subsections are passages of their own), titled by
  its chapter, with its language in ``metadata.language``; sections under 40 characters are left out;
* a **query** is a section's title when the English title is a question (120 sections), so the
  questions are the FAQ authors' own, not written for this benchmark; its relevant passage is the
  section it titles;
* **unanswerable** questions: a share (``--unanswerable``) of the question sections, chosen by
  SHA-256 of the section id and the same in every language, have their passage left out of
  every corpus (``answerable: false``, no qrels), as ``halueval_beir.py`` does;
* ``--sample SHARE`` keeps only a share of the sections (passages and questions alike), chosen by
  SHA-256 of the section id, the same in every language: the CI slice (fixtures/eval/debian-faq-ci).

Folders written under ``--out``:

* ``<lang>/`` one per language (``en`` and each translation): questions and passages in that
  language (monolingual). A section whose translated text is still the English one is left out;
* ``cross/``: the questions in every translated language against the English passages
  (cross-lingual), ``language`` on each query; a question whose title is still the English one
  is left out. Its queries are ordered by hash, so ``govai_eval --limit N`` takes a sample
  spread over languages and sections.

Licence: the Debian FAQ is (C) 1996-2003 Software in the Public Interest under a permissive
notice (verbatim and modified copies and translations may be distributed with the notice kept);
see ``/usr/share/doc/debian-faq/copyright``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import lxml.html

from halueval_beir import hashed, multilingual_arguments, summary, within, write

INSTALLED = (Path(".govai/debian-faq-src/usr/share/doc/debian/FAQ"), Path("/usr/share/doc/debian/FAQ"))
MIN_PASSAGE = 40
QUESTION_MARKS = ("?", "？", "؟")


def source_dir() -> Path:
    for path in INSTALLED:
        if (path / "index.en.html").is_file():
            return path
    raise SystemExit("Debian FAQ not found: run `make bench-data` (or apt-get install debian-faq debian-faq-de ...)")


def languages_in(source: Path) -> list[str]:
    return ["en"] + sorted(p.name for p in source.iterdir() if p.is_dir() and list(p.glob(f"*.{p.name}.html")))


def sections(source: Path, lang: str) -> dict[str, dict[str, str]]:
    """Section id -> {title, chapter, text} of one language's HTML FAQ."""
    folder = source if lang == "en" else source / lang
    found: dict[str, dict[str, str]] = {}
    for page in sorted(folder.glob(f"*.{lang}.html")):
        if page.name.startswith(("index.", "faqinfo.")):
            continue
        root = lxml.html.parse(str(page), parser=lxml.html.HTMLParser(encoding="utf-8")).getroot()
        chapter = _clean(" ".join(root.xpath("//h1[1]//text()")))
        for section in root.xpath('//div[@class="section"]'):
            heading = section.xpath('./div[@class="titlepage"]//*[self::h2 or self::h3 or self::h4 or self::h5]')
            anchor = heading[0].xpath(".//a[@id]") if heading else []
            if not anchor:
                continue
            paragraphs = [_clean(child.text_content()) for child in section
                          if child.get("class") not in ("titlepage", "section")]
            found[anchor[0].get("id")] = {"title": _strip_number(_clean(heading[0].text_content())),
                                          "chapter": _strip_number(chapter),
                                          "text": "\n\n".join(p for p in paragraphs if p)}
    return found


def _clean(text: str) -> str:
    return " ".join(text.split())


def _strip_number(title: str) -> str:
    """'1.2. Was ist Debian?' / 'Kapitel 1. Definitionen' -> the title without its numbering."""
    return re.sub(r"^(\S+\s)?\d+(\.\d+)*\.?\s+", "", title) if re.match(r"^(\S+\s)?\d", title) else title


def _digest(key: str) -> int:
    return hashed("debian-faq", key)


def unanswerable(section: str, share: float) -> bool:
    return within(_digest(f"unanswerable:{section}"), share)


def sampled(section: str, share: float) -> bool:
    return within(_digest(f"sample:{section}"), share)


def build(source: Path, share: float, languages: list[str],
          sample: float = 1.0) -> dict[str, tuple[list[dict], list[dict], list[tuple[str, str]]]]:
    by_lang = {lang: sections(source, lang) for lang in languages}
    english = by_lang["en"]
    usable = [sid for sid, s in english.items() if len(s["text"]) >= MIN_PASSAGE and sampled(sid, sample)]
    questions = [sid for sid in usable if english[sid]["title"].endswith(QUESTION_MARKS)]
    left_out = {sid for sid in questions if unanswerable(sid, share)}
    folders = {}
    for lang, found in by_lang.items():
        translated = [sid for sid in usable if sid in found and (lang == "en" or found[sid]["text"] != english[sid]["text"])]
        asked = [sid for sid in questions if sid in translated]
        folders[lang] = (_corpus(found, translated, left_out, lang), *_queries(found, asked, left_out, lang))
    cross_queries, cross_qrels = [], []
    for lang in languages[1:]:
        found = by_lang[lang]
        asked = [sid for sid in questions if sid in found and found[sid]["title"] != english[sid]["title"]]
        queries, qrels = _queries(found, asked, left_out, lang)
        cross_queries += queries
        cross_qrels += qrels
    cross_queries.sort(key=lambda q: _digest(f"order:{q['_id']}"))
    if len(languages) > 1:
        folders["cross"] = (_corpus(english, usable, left_out, "en"), cross_queries, cross_qrels)
    return folders


def _corpus(found: dict[str, dict[str, str]], ids: list[str], left_out: set[str], lang: str) -> list[dict]:
    return [{"_id": f"p-{sid}", "title": found[sid]["chapter"], "text": found[sid]["text"],
             "metadata": {"source": "Debian FAQ 11.1", "section": sid, "language": lang}}
            for sid in ids if sid not in left_out]


def _queries(found: dict[str, dict[str, str]], ids: list[str], left_out: set[str], lang: str) -> tuple[list[dict], list[tuple[str, str]]]:
    queries = [{"_id": f"q-{lang}-{sid}", "text": found[sid]["title"], "language": lang, "answerable": sid not in left_out}
               for sid in ids]
    return queries, [(f"q-{lang}-{sid}", f"p-{sid}") for sid in ids if sid not in left_out]


def tiny_source(folder: Path) -> Path:
    """A two-language FAQ in the package's HTML layout, for --smoke."""
    pairs = [("What is a {0}?", "Was ist ein {0}?", "A {0} is a small thing that the project keeps in its store room.",
              "Ein {0} ist ein kleines Ding, das das Projekt in seinem Lager aufbewahrt."),
             ("Where do I get a {0}?", "Wo bekomme ich ein {0}?", "Every office hands out one {0} a day to each person who asks.",
              "Jedes Amt gibt jeder Person, die fragt, ein {0} pro Tag aus.")]
    for lang, folder_lang in (("en", folder), ("de", folder / "de")):
        folder_lang.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f'<div class="section"><div class="titlepage"><h2 class="title"><a id="s{i}-{j}"></a>1.{i * 2 + j}. '
            f'{(q_en if lang == "en" else q_de).format(word)}</h2></div><p>{(a_en if lang == "en" else a_de).format(word)}</p></div>'
            for i, word in enumerate(("widget", "gadget", "token")) for j, (q_en, q_de, a_en, a_de) in enumerate(pairs))
        (folder_lang / f"basics.{lang}.html").write_text(f'<html><body><h1 class="title">Chapter 1. Basics</h1>{body}</body></html>',
                                                         encoding="utf-8")
    (folder / "index.en.html").write_text("<html></html>", encoding="utf-8")
    return folder


def main() -> None:
    args = multilingual_arguments(
        __doc__, source="the FAQ's HTML folder (index.en.html and one sub-folder per translation); "
                        "default: .govai/debian-faq-src/... (make bench-data) or /usr/share/doc/debian/FAQ",
        languages={"help": "comma-separated translations to use (default: every one found)"},
        sample_of="sections", smoke="a generated two-language mini FAQ into a temporary folder")
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    source = Path(args.source) if args.source else tiny_source(Path(scratch.name) / "faq") if scratch else source_dir()
    out = Path(args.out) if args.out else Path(scratch.name) / "beir"
    found = languages_in(source)
    languages = ["en"] + [lang for lang in (args.languages.split(",") if args.languages else found[1:]) if lang in found]
    for name, (corpus, queries, qrels) in build(source, args.unanswerable, languages, args.sample).items():
        write(out / name, corpus, queries, qrels)
        print(summary(out / name, corpus, queries))


if __name__ == "__main__":
    main()
