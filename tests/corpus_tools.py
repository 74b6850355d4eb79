"""Helpers shared by the core tests: seed copies, generated bad files, real PDFs."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_IDS = sorted(p.stem for p in SEEDS.glob("*.txt"))


def copy_seeds(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, target / path.name)
    return target


def make_pdf(path: Path, pages: list[str], title: str = "A Test Report", author: str = "Ann Author") -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle(title)
    pdf.setAuthor(author)
    for text in pages:
        y = 800
        for line in text.splitlines():
            pdf.drawString(50, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def make_bad_files(folder: Path) -> dict[str, str]:
    """Write broken files; returns name -> a word the skip reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me in Paris.\n".encode("latin-1"))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<>> garbage that is not a pdf\n%%EOF")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 zipped word file")
    return {"empty.txt": "empty", "binary.txt": "binary", "latin1.txt": "UTF-8",
            "corrupt.pdf": "PDF", "notes.docx": "unsupported"}


def surrogate_pdf(path: Path, words: str = "harbour lights shine on the northern cape") -> Path:
    """A PDF whose font's ToUnicode map sends code <41> ('A') to the lone surrogate U+D800, and
    pypdf extracts the surrogate into a Python string as it is (issue 25: the tokenizer then
    raised and the whole build aborted). Written byte by byte, since no PDF library writes such a
    map on purpose."""
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            b"1 begincodespacerange <00> <FF> endcodespacerange\n"
            b"1 beginbfchar <41> <D800> endbfchar\n"
            b"endcmap CMapName currentdict /CMap defineresource pop end end\n")
    content = b"BT /F1 12 Tf 50 800 Td (A " + words.encode("ascii") + b". A second sentence A.) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
         b"/Contents 5 0 R >>"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"endstream",
        b"<< /Title (Harbour lights report) /Author (Ann Author) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path
