"""Files -> Documents: .txt, .md, .html and .pdf, with the metadata a citation needs.

Loading never raises for a bad file: each one becomes a `Skipped` record with a reason a user can
act on, so one broken file cannot stop a build over thousands of good ones. Any exception while
reading or parsing one file (a parser bug, a date that is not a date) skips that file only.

Every pattern here runs on untrusted text, so none may backtrack quadratically: trailing text is
taken greedily and trimmed in code instead of by a lazy group followed by `\\s*$`, and the HTML
blank-line rule works on whole whitespace runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rag.ingest.files import SkipFile, Skipped, iter_files, read_capped, replace_surrogates
from rag.types import Document, PageSpan

__all__ = ["Skipped", "doc_id_for", "extract_metadata", "iter_files", "load_file", "normalize_date"]

MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
DATE_MDY = re.compile(rf"\b({MONTHS})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})\b")
DATE_DMY = re.compile(rf"\b(\d{{1,2}})\s+({MONTHS})\.?,?\s+(\d{{4}})\b")
DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)")
BYLINE = re.compile(r"^\s*by\s+([A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})\s*$", re.IGNORECASE)
AUTHOR_TAG = re.compile(r"\s*+(?:articles by|author|written by)\s*+:\s*+(.+)", re.IGNORECASE)
OUTLET_DATED = re.compile(rf"^\s*([A-Z][\w&' .-]{{2,60}}?),\s+(?:{MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}\s*$")
OUTLET_FROM = re.compile(r"\s*+from\s++(.+)", re.IGNORECASE)  # "... website(s)" checked in code
OUTLET_FOOTER = re.compile(
    r"\s*+(?:read the original article on|originally published (?:on|by|at))\s++(.+)", re.IGNORECASE,
)
OUTLET_DOMAIN = re.compile(r"^\s*(?:www\.)([a-z0-9-]+\.[a-z.]{2,})\b", re.IGNORECASE)
MARKUP = re.compile(r"\*\*|__|</?u>|^#+\s*")
HEADER_LINES = 15
FRONT_MATTER = re.compile(r"---[ \t]*+\r?\n(.*?)\r?\n---[ \t]*+\r?\n", re.DOTALL)
HTML_BLANK_RUN = re.compile(r"[ \t\xa0\n]++")


def doc_id_for(root: Path, path: Path) -> str:
    """The path relative to the corpus root, without extension, with '/' separators."""
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return rel.with_suffix("").as_posix()


def load_file(root: Path, path: Path, max_bytes: int) -> Document | Skipped:
    """Load one file into a Document, or say why it cannot be. Never raises."""
    try:
        return _load(root, path, max_bytes)
    except SkipFile as exc:
        return Skipped(str(path), exc.reason, exc.kind)
    except Exception as exc:  # noqa: BLE001  one odd file must never cost the user the whole index
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        return Skipped(str(path), f"could not be parsed ({type(exc).__name__}"
                       f"{': ' + detail if detail else ''}); the rest of the corpus is indexed", "parse error")


def _load(root: Path, path: Path, max_bytes: int) -> Document:
    data = read_capped(path, max_bytes)
    if not data.strip():
        raise SkipFile("file is empty", "empty")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        fields = _load_pdf(data)
    else:
        text = _decode(data)
        fields = _load_html(text) if suffix in (".html", ".htm") else _load_text(text, suffix)
    if not fields["text"].strip():
        raise SkipFile("no text found in file", "no text")
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    fields = {key: replace_surrogates(value) if isinstance(value, str) else value
              for key, value in fields.items()}  # text, title, author, date, outlet
    return Document(
        doc_id=replace_surrogates(doc_id_for(root, path)),
        source=replace_surrogates(rel),
        content_hash=hashlib.sha256(data).hexdigest(),
        **fields,
    )


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a byte-order mark (Windows editors)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SkipFile("starts with a UTF-16 byte-order mark but is not valid UTF-16; "
                           "re-save the file as UTF-8", "not UTF-8") from None
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes); only text, HTML and PDF are read", "binary")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkipFile(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8", "not UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _load_text(text: str, suffix: str) -> dict:
    meta = extract_metadata(text)
    if suffix == ".md":
        meta.update({k: v for k, v in _markdown_metadata(text).items() if v})
    return {"text": text, **meta}


def _markdown_metadata(text: str) -> dict:
    meta: dict[str, str | None] = {}
    front = FRONT_MATTER.match(text)
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("title", "author", "date", "outlet") and value.strip():
                meta[key] = value.strip().strip("'\"")
        if meta.get("date"):
            meta["date"] = normalize_date(meta["date"]) or meta["date"]
    heading = re.search(r"^#[ \t]++(.+)$", text, re.MULTILINE)
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
    text = HTML_BLANK_RUN.sub(_blank_lines, text).strip() + "\n"
    fallback = extract_metadata(text)
    return {
        "text": text,
        "title": title or (h1.get_text(strip=True) if h1 else fallback["title"]),
        "author": author or fallback["author"],
        "date": (normalize_date(date) if date else None) or fallback["date"],
        "outlet": outlet or fallback["outlet"],
    }


def _blank_lines(run: re.Match[str]) -> str:
    """A whitespace run holding a blank line becomes one blank line (what follows the last newline
    is kept); any other run is left as it is."""
    white = run.group(0)
    if white.count("\n") < 2:
        return white
    return "\n\n" + white[white.rindex("\n") + 1:]


def _load_pdf(data: bytes) -> dict:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SkipFile(f"unreadable PDF ({type(exc).__name__}: {exc}); re-export it", "unreadable PDF") from None
    except Exception as exc:  # noqa: BLE001  pypdf raises many internal types on broken files
        raise SkipFile(f"unreadable PDF ({type(exc).__name__}); re-export it", "unreadable PDF") from None
    if not any(p.strip() for p in pages):
        raise SkipFile("PDF has no text layer (scanned?); run OCR on it first", "no text")
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
    """ISO `YYYY-MM-DD` for the first real date found in `value`, or None.

    Something shaped like a date that is not one ("Version 2024-13-01", "February 30, 2023") is
    passed over, never an error.
    """
    for pattern, order in ((DATE_ISO, "ymd"), (DATE_MDY, "mdy"), (DATE_DMY, "dmy")):
        for match in pattern.finditer(value):
            parsed = _as_date(dict(zip(order, match.groups(), strict=True)))
            if parsed:
                return parsed
    return None


def _as_date(parts: dict[str, str]) -> str | None:
    month = parts["m"]
    try:
        if not month.isdigit():
            parsed = datetime.strptime(f"{parts['y']} {month[:3].title()} {int(parts['d'])}", "%Y %b %d")
        else:
            parsed = datetime(int(parts["y"]), int(month), int(parts["d"]))
    except ValueError:
        return None
    return parsed.date().isoformat()


def extract_metadata(text: str) -> dict[str, str | None]:
    """Title, author, date and outlet from the way scraped articles state them.

    The header (first lines) is searched for a headline, a byline and a dateline; author tags and
    outlet footers ("Read the original article on ...") are searched everywhere.
    """
    lines = [MARKUP.sub("", line).strip(" \t\xa0") for line in text.splitlines()]
    lines = [line for line in lines if line]
    header = lines[:HEADER_LINES]
    author = _first(BYLINE, header) or _first(AUTHOR_TAG, lines)
    outlet = (_first(OUTLET_DATED, header) or _first(_outlet_from, header)
              or _first(_outlet_footer, lines) or _first(OUTLET_DOMAIN, lines))
    date = next((d for d in map(normalize_date, header) if d), None)
    title = None
    if header and not (BYLINE.match(header[0]) or normalize_date(header[0])):
        candidate = header[0]
        if len(candidate.split()) >= 3 and len(candidate) <= 300:
            title = candidate
    return {"title": title, "author": author, "date": date, "outlet": outlet}


def _outlet_from(line: str) -> str | None:
    """The X of "From X website(s)"; the suffix is checked with string methods, not backtracking."""
    head = OUTLET_FROM.match(line)
    if not head:
        return None
    rest = head.group(1).rstrip()
    lowered = rest.lower()
    for word in ("websites", "website"):
        name = rest[:-len(word)]
        if lowered.endswith(word) and name[-1:].isspace() and name.strip():
            return name
    return None


def _outlet_footer(line: str) -> str | None:
    """The X of "Read the original article on X." (one final dot and trailing spaces dropped)."""
    match = OUTLET_FOOTER.match(line)
    if not match:
        return None
    value = match.group(1).rstrip()
    return value.removesuffix(".")


def _first(pattern: re.Pattern[str] | Callable[[str], str | None], lines: list[str]) -> str | None:
    """The first line's captured value, trimmed of spaces and trailing dots (trimmed here rather
    than by the pattern, which keeps the patterns linear)."""
    for line in lines:
        if isinstance(pattern, re.Pattern):
            match = pattern.match(line)
            value = match.group(1) if match else None
        else:
            value = pattern(line)
        if value is not None:
            return value.strip().rstrip(".")
    return None
