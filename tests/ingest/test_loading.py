"""Loading and cleaning: metadata, offsets into the original text, boilerplate, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_tools import SEEDS, make_bad_files, make_pdf

from rag.config import load_settings
from rag.index.build import load_corpus
from rag.ingest.cleaning import Cleaner
from rag.ingest.loaders import extract_metadata, load_file, normalize_date

EXPECTED_METADATA = {
    "000_fa0abe1aae40eff2": {"title": "General to General: A Potential Ukraine-Russia Peace Is Being "
                             "Negotiated in Ukraine by Military Leaders. Seymour Hersh",
                             "author": "Seymour M. Hersh", "date": "2023-12-04", "outlet": "Global Research"},
    "001_ba8a69dfa45ae580": {"title": None, "author": "Seymour Hersh", "date": "2023-12-01",
                             "outlet": "SeymourHersh and UncutNews"},
    "002_d16182aecea7049e": {"title": "Urging peace with Russia, top US general challenges DC’s proxy war",
                             "author": None, "date": "2022-11-12", "outlet": None},
    "003_a04de0ae7644ddd5": {"title": "Top U.S. general urges Ukraine-Russia talks, Biden advisers resist",
                             "author": None, "date": None, "outlet": "The New Voice of Ukraine"},
    "004_1b6fea1d4b3ffca0": {"title": "‘Seize the Moment’: Joint Chiefs of Staff General Milley Sees "
                             "Opportunity for Peace Talks Between Russia and Ukraine",
                             "author": "Dave DeCamp", "date": None, "outlet": "globalresearch.ca"},
}

# Lines of site furniture in the seeds: none of them may be indexed.
BOILERPLATE = [
    "Click the share button above", "Daily Newsletter", "can be read in 51 languages",
    "Feel free to repost", "Disclaimer: The contents of this article", "contains copyrighted material",
    "For media inquiries", "Oops!", "Something went wrong", "Please try again later", "Read also:",
    "Read the original article on", "Become a Member of Global Research", "Region: Europe",
    "Theme: Intelligence", "Featured image source", "Continue with translation",
    "Photo by Kremlin Press Office", "Comment on Global Research Articles", "Articles by:",
    "[email\xa0protected]", "Click here to read the full article",
]


def seed_docs():
    return [load_file(SEEDS, path, 10**8) for path in sorted(SEEDS.glob("*.txt"))]


SEED_SHA256 = {  # of ../shared/seeds/*, the five articles as given
    "000_fa0abe1aae40eff2.txt": "fdd6073337a3fce77ae3408edbf22ecc32da359347941e95ee997ec28ee8a1ff",
    "001_ba8a69dfa45ae580.txt": "0aeba7abf7b119bfd5664109751164857c423c31d13efccb81a80f9057040953",
    "002_d16182aecea7049e.txt": "3d64d01c657343c8189da08a05749428b6aada25622c794dab1ea87646a2358e",
    "003_a04de0ae7644ddd5.txt": "e4fc7bd701b350967f43284a5cc9038dbcb096dc66adebd14414b3d7fa52cdf8",
    "004_1b6fea1d4b3ffca0.txt": "068594500aa7ca29ff9b38c35042eadd2f7b9001b729729b1dbd9ebaa570a2b0",
}


def test_seed_files_are_the_originals_byte_for_byte():
    import hashlib

    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in SEEDS.iterdir()}
    assert found == SEED_SHA256


@pytest.mark.parametrize("doc_id", sorted(EXPECTED_METADATA))
def test_seed_metadata_where_stated(doc_id):
    doc = next(d for d in seed_docs() if d.doc_id == doc_id)
    assert {k: getattr(doc, k) for k in ("title", "author", "date", "outlet")} == EXPECTED_METADATA[doc_id]


def test_document_text_is_the_original_file_text():
    for doc in seed_docs():
        assert doc.text == (SEEDS / doc.source).read_bytes().decode("utf-8")
        assert doc.source == f"{doc.doc_id}.txt"


def test_cleaning_drops_every_boilerplate_line_and_keeps_offsets():
    cleaner = Cleaner()
    for doc in seed_docs():
        sections = cleaner.sections(doc.text)
        kept = "\n".join(doc.text[s.start:s.end] for s in sections)
        for phrase in BOILERPLATE:
            assert phrase not in kept, (doc.doc_id, phrase)
        assert all(doc.text[s.start:s.end].strip() == doc.text[s.start:s.end] for s in sections)


def test_content_shared_by_two_documents_is_kept():
    cleaner = Cleaner()
    docs = {d.doc_id: d for d in seed_docs()}
    sentence = "serious peace talks between Russia and Ukraine have rapidly gained momentum"
    for doc_id in ("000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"):
        doc = docs[doc_id]
        kept = " ".join(doc.text[s.start:s.end] for s in cleaner.sections(doc.text))
        assert sentence in kept


def test_extra_boilerplate_patterns_by_configuration():
    text = "Real sentence one.\n\nSPONSORED: buy now\n\nReal sentence two.\n"
    sections = Cleaner(["^sponsored:"]).sections(text)
    assert [text[s.start:s.end] for s in sections] == ["Real sentence one.", "Real sentence two."]


def test_dates_in_several_formats():
    assert normalize_date("Global Research, December 04, 2023") == "2023-12-04"
    assert normalize_date("Seymour Hersh 2 December 2023") == "2023-12-02"
    assert normalize_date("Nov. 5, 2022") == "2022-11-05"
    assert normalize_date("published 2021-03-09T10:00") == "2021-03-09"
    assert normalize_date("no date here") is None


def test_metadata_from_bylines():
    meta = extract_metadata("A Headline About Things\n\nBy Jane Q. Doe\n\nReuters, March 3, 2021\n\nBody.")
    assert meta == {"title": "A Headline About Things", "author": "Jane Q. Doe", "date": "2021-03-03",
                    "outlet": "Reuters"}


def test_html_article_text_without_navigation(tmp_path: Path):
    page = tmp_path / "story.html"
    page.write_text(
        "<html><head><title>Site | Big Story</title><meta name='author' content='Ann Lee'>"
        "<meta property='article:published_time' content='2024-05-06T08:00:00Z'>"
        "<meta property='og:site_name' content='The Daily'></head><body>"
        "<nav><a href='/'>Home</a><a href='/world'>World news menu</a></nav>"
        "<article><h1>Big Story</h1><p>The bridge opened on Monday.</p><p>Traffic was light.</p></article>"
        "<footer>Copyright footer text</footer><script>var x = 1;</script></body></html>")
    doc = load_file(tmp_path, page, 10**8)
    assert "The bridge opened on Monday." in doc.text and "Traffic was light." in doc.text
    assert "World news menu" not in doc.text and "var x" not in doc.text and "footer" not in doc.text
    assert (doc.author, doc.date, doc.outlet) == ("Ann Lee", "2024-05-06", "The Daily")
    assert doc.title == "Site | Big Story"


def test_markdown_front_matter(tmp_path: Path):
    note = tmp_path / "sub" / "note.md"
    note.parent.mkdir()
    note.write_text("---\ntitle: Field Notes\nauthor: Sam Poe\ndate: 2020-01-02\n---\n# Ignored\n\nText here.\n")
    doc = load_file(tmp_path, note, 10**8)
    assert (doc.doc_id, doc.source, doc.title, doc.author, doc.date) == (
        "sub/note", "sub/note.md", "Field Notes", "Sam Poe", "2020-01-02")


def test_pdf_text_layer_with_pages(tmp_path: Path):
    pdf = make_pdf(tmp_path / "report.pdf", ["First page says hello.", "Second page mentions zebras."])
    doc = load_file(tmp_path, pdf, 10**8)
    assert doc.title == "A Test Report" and doc.author == "Ann Author"
    assert [p.page for p in doc.pages] == [1, 2]
    offset = doc.text.index("zebras")
    assert doc.page_at(offset) == 2 and doc.page_at(doc.text.index("hello")) == 1


def test_bad_files_are_skipped_with_reasons_and_the_rest_loaded(tmp_path: Path):
    expected = make_bad_files(tmp_path)
    (tmp_path / "good.txt").write_text("A perfectly good document about lighthouses.\n")
    docs, skipped = load_corpus(load_settings(), [tmp_path])
    assert [d.doc_id for d in docs] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == set(expected)
    for name, word in expected.items():
        assert word.lower() in reasons[name].lower(), (name, reasons[name])
