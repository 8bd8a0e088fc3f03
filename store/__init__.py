"""The SQL store: SQLModel tables, engine and sessions, migrations, the audit log, importers and exporters."""
