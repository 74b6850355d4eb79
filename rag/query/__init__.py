"""The question path: retrieval (dense + BM25 fused, duplicates grouped), answering, citations.

    retrieval   question -> ranked Passages (and documents ranked, for BEIR)
    answering   Passages -> sentences scored, chosen, or a refusal
    citations   chosen sentences -> numbered Citations, each verified against the source text
"""
