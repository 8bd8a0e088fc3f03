"""The eval runner and its public conversation cases (YAML)."""
