"""Front doors: the command line (Typer + Rich), the Slack app (slack-bolt) and the briefing scheduler."""
