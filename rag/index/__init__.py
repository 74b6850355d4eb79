"""The on-disk index: building it, its folder layout, its manifest, and reading it.

    build     corpus -> build folder (loads, chunks, embeds, stores; imports the ingest stage)
    layout    atomic build folders, the `current` switch, the build lock, pruning
    manifest  the settings fingerprint and the check that refuses a mismatched index
    reader    the read-only Index a question is answered from (does not import ingest loaders)
"""
