"""Stores: where chunk vectors (FAISS or Milvus) and the BM25 keyword index live and are searched.

    base            the VectorStore protocol, the build's vectorstore.json, IVF sizing
    registry        the backend picked by configuration: create, open, check, drop, build
    faiss_store     FAISS flat / IVF / HNSW in the build folder
    milvus_store    Milvus Lite or a Milvus server (connections in milvus_connect)
    bm25            the keyword index (bm25s) and the tokenizer it and answering share
"""

from rag.stores.base import VectorStore
from rag.stores.bm25 import STOPWORDS, KeywordIndex, tokenize
from rag.stores.registry import build_store, check_backend, create_store, drop_store, open_store

__all__ = ["STOPWORDS", "KeywordIndex", "VectorStore", "build_store", "check_backend", "create_store",
           "drop_store", "open_store", "tokenize"]
