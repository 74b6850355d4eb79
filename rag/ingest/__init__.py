"""Ingestion: files -> Documents -> Chunks, at index time only.

    loaders   files under the corpus roots -> Document (text, title, author, date, pages), or a Skipped reason
    cleaning  boilerplate line spans to leave out, without changing the text (offsets stay true)
    chunking  sentence-aware, token-bounded, overlapping chunks with their sentence spans
    dedup     near-duplicate chunk groups across documents, and the canonical member of each

Import the module you need (`from rag.ingest.chunking import chunk_document`): the question path
uses `dedup` alone and should not pay for the HTML and PDF parsers the loaders import.
"""
