"""The question path: retrieval (dense + BM25 fused, duplicates grouped), answering, citations.

    retrieval   question -> ranked Passages (and documents ranked, for BEIR)
    answering   Passages -> sentences scored, chosen, or a refusal
    answer_types  the kind of answer a question asks for (a date, a number, a person's name)
    citations   chosen sentences -> numbered Citations, each verified against the source text
"""
