"""LangChain tools: thin typed wrappers over the domain, one per operation, with permission checks and receipts."""
