"""The `rag` command line: one small function per verb, errors as one readable line (exit 1).

Document text, quotes, titles and file names are printed verbatim: both consoles interpret no
markup and no `:emoji:` codes (a quote of `root:x:0:0` must not become an emoji), and styles are
given as arguments, never embedded in the printed text.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from rag.cli_eval import calibrate, evaluate
from rag.cli_options import IndexDir, settings_for
from rag.cli_render import (
    BarProgress,
    err,
    out,
    print_answer,
    print_build,
    print_skips,
    print_watch_error,
    progress_bar,
    style_label,
)
from rag.config import Settings
from rag.errors import RagError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Ask questions of a folder of documents; every answer cites its sources.")

ModeOpt = Annotated[str | None, typer.Option("--mode", help="hybrid | dense | keyword")]
# The HTTP layer sits above rag and imports it, never the reverse, so it is named, not imported.
APP_FACTORY = "api.app:create_app"
MCP_MODULE = "api.mcp_server"
JsonFlag = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
# Filters (rag/query/filters.py): only documents matching every one given are searched.
DocOpt = Annotated[list[str] | None, typer.Option("--doc", help="only this doc_id (repeatable)")]
SourceOpt = Annotated[str | None, typer.Option("--source-prefix", help="only sources starting so")]
FromOpt = Annotated[str | None, typer.Option("--date-from", help="only documents dated on/after (ISO)")]
ToOpt = Annotated[str | None, typer.Option("--date-to", help="only documents dated on/before (ISO)")]
AuthorOpt = Annotated[str | None, typer.Option("--author", help="only authors containing this")]
OutletOpt = Annotated[str | None, typer.Option("--outlet", help="only outlets containing this")]


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn RagError into one line on stderr and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RagError as exc:
            err.print(f"error: {exc.message}", highlight=False, markup=False)
            raise typer.Exit(1) from None
        except OSError as exc:  # a path the user gave that cannot be read or written
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"error: {exc.strerror or exc}{where}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@friendly
def index(
    paths: Annotated[list[Path] | None, typer.Argument(help="folders or files [default: seeds/]")] = None,
    index_dir: IndexDir = None,
    model: Annotated[str | None, typer.Option(help="sentence-transformers name or path")] = None,
) -> None:
    """Build the index from documents.

    Example: rag index seeds/ --index-dir index/
    """
    from rag import build_index

    settings = settings_for(index_dir, **{"embedding.model": model})
    with progress_bar() as bar:
        report = build_index(settings, paths or None, BarProgress(bar))
    out.print(f"indexed {report.documents} documents into {report.chunks} chunks "
              f"({report.sentences} sentences; embedded {report.embedded}, reused {report.reused} "
              f"from cache) in {report.seconds:.1f}s -> {settings.index_dir}", highlight=False)
    print_skips(report.skipped)


@app.command()
@friendly
def search(
    question: Annotated[str, typer.Argument(help="what to look for")],
    k: Annotated[int | None, typer.Option("-k", help="number of passages [default: RAG_RETRIEVAL__K, 5]",
                                          min=1, max=50)] = None,
    mode: ModeOpt = None,
    index_dir: IndexDir = None,
    as_json: JsonFlag = False,
    doc: DocOpt = None, source_prefix: SourceOpt = None, date_from: FromOpt = None,
    date_to: ToOpt = None, author: AuthorOpt = None, outlet: OutletOpt = None,
) -> None:
    """Show the passages that best match a question.

    Example: rag search "Who are the two generals driving the peace talks?" -k 3 --author hersh
    """
    from rag import open_index, parse_filter
    from rag import search as run_search

    settings = settings_for(index_dir, **{"retrieval.mode": mode, "retrieval.k": k})
    where = parse_filter(doc_ids=doc, source_prefix=source_prefix, date_from=date_from,
                         date_to=date_to, author=author, outlet=outlet)
    with open_index(settings) as index_:
        passages = run_search(index_, question, where=where)
    if as_json:
        print(json.dumps([p.hit() for p in passages], indent=2, ensure_ascii=False))
        return
    for p in passages:
        also = f"  (also in {', '.join(p.also_in)})" if p.also_in else ""
        out.print(Text(f"{p.rank}. {p.chunk.doc_id}", style="bold"),
                  Text(f" score {p.score:.4f}  chars {p.chunk.start}-{p.chunk.end}{also}"))
        out.print(f"   {p.title}", style="dim", highlight=False, markup=False)
        out.print("   " + " ".join(p.chunk.text.split())[:300], highlight=False, markup=False)


@app.command()
@friendly
def ask(
    question: Annotated[str, typer.Argument(help="a question in plain words")],
    k: Annotated[int | None, typer.Option("-k", help="passages the answer is drawn from "
                                          "[default: RAG_ANSWER__PASSAGES, 6]", min=1, max=50)] = None,
    mode: ModeOpt = None,
    index_dir: IndexDir = None,
    as_json: JsonFlag = False,
    doc: DocOpt = None, source_prefix: SourceOpt = None, date_from: FromOpt = None,
    date_to: ToOpt = None, author: AuthorOpt = None, outlet: OutletOpt = None,
    generate: Annotated[bool, typer.Option("--generate", help="have the model at RAG_GENERATOR__BASE_URL "
                                           "write the answer; each sentence is verified against a quote "
                                           "(extractive, labelled, when that fails)")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="YYYY-MM-DD", help="the day the "
                                              "question is asked: documents dated later are left out, "
                                              "those dated that day or in the RAG_RETRIEVAL__RECENT_DAYS "
                                              "(7) days before it come first")] = None,
) -> None:
    """Answer a question with cited sentences, or say the documents do not answer it.

    Example: rag ask "Who is negotiating the peace between Russia and Ukraine?" --date-from 2023
             rag ask "What did Milley say this week?" --as-of 2023-12-05
    """
    from rag import ask as run_ask
    from rag import open_index, parse_filter

    settings = settings_for(index_dir, **{"retrieval.mode": mode, "answer.passages": k})
    where = parse_filter(doc_ids=doc, source_prefix=source_prefix, date_from=date_from,
                         date_to=date_to, author=author, outlet=outlet)
    with open_index(settings) as index_:
        answer = run_ask(index_, question, where=where, style="generated" if generate else None,
                         as_of=as_of)
    if as_json:
        print(answer.model_dump_json(indent=2))
        return
    print_answer(out, answer)
    if label := style_label(answer):
        out.print(f"({label})", style="dim", highlight=False, markup=False)
    if answer.citations:
        out.print("\nSources:")
    for c in answer.citations:
        also = f" (same text in: {', '.join(c.also_in)})" if c.also_in else ""
        page = f", page {c.page}" if c.page else ""
        out.print(f"  [{c.n}] {c.title} — {c.source}{page}, chars {c.start}-{c.end}{also}",
                  highlight=False, markup=False)
    if answer.related:
        out.print("\nClosest passages (not answers):")
        for r in answer.related:
            out.print(f"  - {r.title} — {r.source}: \"{' '.join(r.quote.split())[:160]}\"",
                      highlight=False, markup=False)


@app.command()
@friendly
def info(index_dir: IndexDir = None, as_json: JsonFlag = False) -> None:
    """Say what the index holds and how it was built.

    Example: rag info --json
    """
    from rag import current_build, read_manifest

    settings = settings_for(index_dir)
    folder = current_build(settings)
    manifest = read_manifest(folder)
    if as_json:
        print(json.dumps({"path": str(folder), **manifest}, indent=2))
        return
    counts, model = require_keys(manifest, folder)
    out.print(f"index {folder}\nbuilt {manifest.get('built_at', '?')} in {manifest.get('build_seconds', '?')}s; "
              f"format {manifest.get('format_version', '?')}", highlight=False)
    out.print(f"model {model['name']} (dimension {model['dimension']}, window {model['max_seq_length']} "
              f"tokens, {model.get('precision', 'fp32')})", highlight=False)
    vectors = manifest.get("vectors", {"backend": "faiss", "kind": "flat"})
    out.print(f"vectors {vectors.get('backend')} {vectors.get('kind', '')} "
              f"{vectors.get('params') or ''}".rstrip(), highlight=False, markup=False)
    out.print(", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)
    table = Table("document", "source", "chunks", "sha256")
    for doc_id, doc in manifest.get("documents", {}).items():
        table.add_row(Text(doc_id), Text(str(doc.get("source", ""))), str(doc.get("chunks", "")),
                      str(doc.get("sha256", ""))[:12])
    out.print(table)
    out.print("settings: " + ", ".join(f"{k}={v}" for k, v in manifest.get("settings", {}).items()),
              highlight=False, markup=False)
    print_calibration(manifest, settings)


def print_calibration(manifest: dict, settings: Settings) -> None:
    """The refusal model recorded at build time and the one answers use now (rag calibrate may differ)."""
    from rag import load_calibration

    reader = (manifest.get("answer") or {}).get("reader")
    if settings.answer.reader == "on" and reader:
        fitted = reader.get("fitted", {})
        cut = (fitted.get("calibration") or {}).get("threshold")
        out.print(f"reader: {reader['layers']} layers, {reader['precision']}, sha256 {reader['sha256'][:16]}; "
                  f"reads {fitted.get('candidates')} sentences, refuses below P = {cut} (its refusal model "
                  "also reads the scorer's, below)", highlight=False, markup=False)
    built = manifest.get("calibration") or {}
    current, path = load_calibration(settings.index_dir)
    out.print(f"refusal model: {path} (digest {current.digest}, refuse below P = {current.threshold:.3f})"
              + ("" if built.get("digest") in (None, current.digest) else
                 f"; the build recorded {built.get('path')} (digest {built.get('digest')})"),
              highlight=False, markup=False)


def require_keys(manifest: dict, folder: Path) -> tuple[dict, dict]:
    """The manifest's counts and model, or IndexCorrupt naming what is missing."""
    from rag import IndexCorrupt

    missing = [key for key in ("counts", "model") if not isinstance(manifest.get(key), dict)]
    model = manifest.get("model") or {}
    missing += [f"model.{key}" for key in ("name", "dimension", "max_seq_length")
                if isinstance(model, dict) and key not in model]
    if missing:
        raise IndexCorrupt(f"{folder / 'manifest.json'} lacks {', '.join(missing)}; rebuild with 'rag index'")
    return manifest["counts"], model


@app.command()
@friendly
def watch(index_dir: IndexDir = None) -> None:
    """Keep the index in sync with the corpus folders (RAG_CORPUS__PATHS and __UPLOAD_DIR).

    Each change (debounced) rebuilds; only changed text is embedded. A running server swaps the
    new index in. Example: RAG_CORPUS__PATHS='["docs"]' rag watch
    """
    import threading

    from rag import watch_corpus

    settings = settings_for(index_dir)
    err.print(f"watching {', '.join(map(str, settings.corpus.paths))} (Ctrl-C stops)", highlight=False)
    watch_corpus(settings, print_build, print_watch_error, threading.Event())


@app.command()
@friendly
def mcp(index_dir: IndexDir = None) -> None:
    """Serve the MCP tools (search, ask, get_document, list_documents) over stdio.

    For a desktop agent's config file: {"command": "rag", "args": ["mcp", "--index-dir", "..."]}
    """
    import importlib

    if index_dir is not None:
        os.environ["RAG_INDEX_DIR"] = str(index_dir)
    settings_for(index_dir)  # a bad setting fails here, as one line
    importlib.import_module(MCP_MODULE).main()  # named, not imported: rag never imports api


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: 8000]")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes [default: 1]")] = None,
    index_dir: IndexDir = None,
    watch_corpus: Annotated[bool, typer.Option("--watch", help="rebuild when the corpus folders change")] = False,
) -> None:
    """Serve the HTTP API and the chat page.

    Example: rag serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    import uvicorn

    settings = settings_for(index_dir, **{"api.host": host, "api.port": port, "api.workers": workers})
    os.environ["RAG_INDEX_DIR"] = str(settings.index_dir)
    os.environ["RAG_API__HOST"] = settings.api.host
    os.environ["RAG_API__PORT"] = str(settings.api.port)
    from rag import IndexCorrupt, open_index

    try:
        open_index(settings).close()  # fail here, with a readable line, if the index is missing or mismatched
    except IndexCorrupt as exc:  # a damaged build: serve degraded (/health says why) until a good one
        err.print(f"warning: {exc.message}; serving without an index until a good build appears")
    url = f"http://{settings.api.host}:{settings.api.port}/"
    out.print(f"chat page: {url}\ntry: curl -s -X POST {url}ask -H 'Content-Type: application/json' "
              "-d '{\"question\": \"Who are the two generals driving the peace talks?\"}'", highlight=False,
              markup=False)
    if watch_corpus:
        start_watcher(settings)
    uvicorn.run(APP_FACTORY, factory=True, host=settings.api.host, port=settings.api.port,
                workers=settings.api.workers, log_level="info", access_log=False,
                timeout_graceful_shutdown=10)


def start_watcher(settings: Settings) -> None:
    """`serve --watch`: the watcher in a daemon thread; the server's reloader swaps each build in."""
    import threading

    from rag import watch_corpus

    threading.Thread(target=watch_corpus, args=(settings, print_build, print_watch_error, threading.Event()),
                     name="rag-watch", daemon=True).start()


app.command(name="eval")(friendly(evaluate))
app.command(name="calibrate")(friendly(calibrate))


def main() -> None:
    try:
        app()
    except RagError as exc:  # raised outside a command (settings from the environment)
        err.print(f"error: {exc.message}", highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
