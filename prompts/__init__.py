"""Prompt templates as Markdown files, and the one loader that fills them."""
