"""Vector index of interactions (Chroma), offline embeddings, semantic search and sentiment."""
