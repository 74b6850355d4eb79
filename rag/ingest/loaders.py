"""Files -> Documents: .txt, .md, .html and .pdf, with the metadata a citation needs.

Loading never raises for a bad file: each one becomes a `Skipped` record with a reason a user can
act on, so one broken file cannot stop a build over thousands of good ones.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rag.types import Document, PageSpan

MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
DATE_MDY = re.compile(rf"\b({MONTHS})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b")
DATE_DMY = re.compile(rf"\b(\d{{1,2}})\s+({MONTHS})\.?,?\s+(\d{{4}})\b")
DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)")
BYLINE = re.compile(r"^\s*by\s+([A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})\s*$", re.IGNORECASE)
AUTHOR_TAG = re.compile(r"^\s*(?:articles by|author|written by)\s*:\s*(.+?)\s*$", re.IGNORECASE)
OUTLET_DATED = re.compile(rf"^\s*([A-Z][\w&' .-]{{2,60}}?),\s+(?:{MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}\s*$")
OUTLET_FROM = re.compile(r"^\s*from\s+(.+?)\s+websites?\s*$", re.IGNORECASE)
OUTLET_FOOTER = re.compile(
    r"^\s*(?:read the original article on|originally published (?:on|by|at))\s+(.+?)\.?\s*$",
    re.IGNORECASE,
)
OUTLET_DOMAIN = re.compile(r"^\s*(?:www\.)([a-z0-9-]+\.[a-z.]{2,})\b", re.IGNORECASE)
MARKUP = re.compile(r"\*\*|__|</?u>|^#+\s*")
HEADER_LINES = 15


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


def iter_files(roots: list[Path], extensions: list[str]) -> Iterator[tuple[Path, Path] | Skipped]:
    """Yield (root, file) pairs under `roots` in a stable order, or Skipped for unusable entries.

    Symlinked folders are not followed (a symlink loop cannot hang a build); symlinked files are.
    """
    wanted = {e.lower() for e in extensions}
    for root in roots:
        if not root.exists():
            yield Skipped(str(root), "path does not exist; check the spelling or create it")
            continue
        if root.is_file():
            yield from _classify(root.parent, root, wanted)
            continue
        for folder, dirs, files in os.walk(root, followlinks=False, onerror=None):
            dirs.sort()
            for name in sorted(files):
                yield from _classify(root, Path(folder) / name, wanted)


def _classify(root: Path, path: Path, wanted: set[str]) -> Iterator[tuple[Path, Path] | Skipped]:
    if path.suffix.lower() not in wanted:
        yield Skipped(str(path), f"unsupported file type '{path.suffix or '(none)'}'; "
                      f"supported: {', '.join(sorted(wanted))}")
    else:
        yield root, path


def doc_id_for(root: Path, path: Path) -> str:
    """The path relative to the corpus root, without extension, with '/' separators."""
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return rel.with_suffix("").as_posix()


def load_file(root: Path, path: Path, max_bytes: int) -> Document | Skipped:
    """Load one file into a Document, or say why it cannot be."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(str(path), f"file is {size / 2**20:.0f} MB, over the "
                           f"{max_bytes / 2**20:.0f} MB limit (corpus.max_file_mb)")
        data = path.read_bytes()
    except FileNotFoundError:
        return Skipped(str(path), "file disappeared while indexing")
    except PermissionError:
        return Skipped(str(path), "permission denied; make the file readable")
    except OSError as exc:
        return Skipped(str(path), f"cannot read file: {exc.strerror or exc}")
    if not data.strip():
        return Skipped(str(path), "file is empty")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            fields = _load_pdf(data)
        else:
            text = _decode(data)
            fields = _load_html(text) if suffix in (".html", ".htm") else _load_text(text, suffix)
    except _BadFile as exc:
        return Skipped(str(path), str(exc))
    if not fields["text"].strip():
        return Skipped(str(path), "no text found in file")
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return Document(
        doc_id=doc_id_for(root, path),
        source=rel,
        content_hash=hashlib.sha256(data).hexdigest(),
        **fields,
    )


class _BadFile(Exception):
    pass


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise _BadFile("binary file (contains NUL bytes); only text, HTML and PDF are read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadFile(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _load_text(text: str, suffix: str) -> dict:
    meta = extract_metadata(text)
    if suffix == ".md":
        meta.update({k: v for k, v in _markdown_metadata(text).items() if v})
    return {"text": text, **meta}


def _markdown_metadata(text: str) -> dict:
    meta: dict[str, str | None] = {}
    front = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("title", "author", "date", "outlet") and value.strip():
                meta[key] = value.strip().strip("'\"")
        if meta.get("date"):
            meta["date"] = normalize_date(meta["date"]) or meta["date"]
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    if heading and not meta.get("title"):
        meta["title"] = heading.group(1).strip()
    return meta


def _load_html(html: str) -> dict:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")

    def meta(*names: str) -> str | None:
        for name in names:
            tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return None

    title = meta("og:title") or (soup.title.get_text(strip=True) if soup.title else None)
    author = meta("author", "article:author")
    date = meta("article:published_time", "date", "pubdate")
    outlet = meta("og:site_name")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript"]):
        tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    h1 = body.find("h1")
    text = body.get_text("\n")
    text = re.sub(r"[ \t\xa0]*\n[ \t\xa0\n]*\n", "\n\n", text).strip() + "\n"
    fallback = extract_metadata(text)
    return {
        "text": text,
        "title": title or (h1.get_text(strip=True) if h1 else fallback["title"]),
        "author": author or fallback["author"],
        "date": (normalize_date(date) if date else None) or fallback["date"],
        "outlet": outlet or fallback["outlet"],
    }


def _load_pdf(data: bytes) -> dict:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise _BadFile(f"unreadable PDF ({type(exc).__name__}: {exc}); re-export it") from None
    except Exception as exc:  # pypdf raises many internal types on broken files
        raise _BadFile(f"unreadable PDF ({type(exc).__name__}); re-export it") from None
    if not any(p.strip() for p in pages):
        raise _BadFile("PDF has no text layer (scanned?); run OCR on it first")
    parts, spans, offset = [], [], 0
    for number, page_text in enumerate(pages, start=1):
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text) + 2
    text = "\n\n".join(parts)
    fallback = extract_metadata(text)
    date = str(info.get("/CreationDate") or "")
    pdf_date = f"{date[2:6]}-{date[6:8]}-{date[8:10]}" if re.match(r"D:\d{8}", date) else None
    return {
        "text": text,
        "pages": spans,
        "title": (str(info.get("/Title") or "").strip() or fallback["title"]),
        "author": (str(info.get("/Author") or "").strip() or fallback["author"]),
        "date": fallback["date"] or pdf_date,
        "outlet": fallback["outlet"],
    }


def normalize_date(value: str) -> str | None:
    """ISO `YYYY-MM-DD` for the first date found in `value`, or None."""
    for pattern, order in ((DATE_ISO, "ymd"), (DATE_MDY, "mdy"), (DATE_DMY, "dmy")):
        match = pattern.search(value)
        if not match:
            continue
        parts = dict(zip(order, match.groups(), strict=True))
        month = parts["m"]
        if not month.isdigit():
            month = month[:3].title()
            parsed = datetime.strptime(f"{parts['y']} {month} {int(parts['d'])}", "%Y %b %d")
        else:
            parsed = datetime(int(parts["y"]), int(month), int(parts["d"]))
        return parsed.date().isoformat()
    return None


def extract_metadata(text: str) -> dict[str, str | None]:
    """Title, author, date and outlet from the way scraped articles state them.

    The header (first lines) is searched for a headline, a byline and a dateline; author tags and
    outlet footers ("Read the original article on ...") are searched everywhere.
    """
    lines = [MARKUP.sub("", line).strip(" \t\xa0") for line in text.splitlines()]
    lines = [line for line in lines if line]
    header = lines[:HEADER_LINES]
    author = _first(BYLINE, header) or _first(AUTHOR_TAG, lines)
    outlet = (_first(OUTLET_DATED, header) or _first(OUTLET_FROM, header)
              or _first(OUTLET_FOOTER, lines) or _first(OUTLET_DOMAIN, lines))
    date = next((d for d in map(normalize_date, header) if d), None)
    title = None
    if header and not (BYLINE.match(header[0]) or normalize_date(header[0])):
        candidate = header[0]
        if len(candidate.split()) >= 3 and len(candidate) <= 300:
            title = candidate
    return {"title": title, "author": author, "date": date, "outlet": outlet}


def _first(pattern: re.Pattern[str], lines: list[str]) -> str | None:
    for line in lines:
        match = pattern.match(line)
        if match:
            return match.group(1).strip().rstrip(".")
    return None
