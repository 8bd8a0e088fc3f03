"""The MCP front door: salesgraph's tools for other agents and desktop clients (``salesgraph mcp serve``)."""
