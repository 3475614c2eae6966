"""Embeddings and search: embedders, the documents embedded, the Chroma vector store, search and its evaluation."""
