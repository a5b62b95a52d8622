"""Runtime ports and contracts: settings, the vector store, the embedder, the tokenizer, the
shared text shapes and the `Answer` schema.

May import: the standard library, third-party packages and other `bot.runtime` modules only.
`ingest` and `evals` build on this package.
"""
