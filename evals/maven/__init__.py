"""The Maven CRM eval suite: case files and the store builder (build_store.py)."""
