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
