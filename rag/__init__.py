"""rag: local-first question answering over a folder of documents, every claim cited."""
