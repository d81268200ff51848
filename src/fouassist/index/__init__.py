"""What is stored and how it is searched: the embedding model (the bundled e5 or another), the
Qdrant backends (Edge in-process, or a server), the store of chunks and the catalog of documents."""
