"""The LangGraph agent: state, nodes, the approval node, model resolution and the checkpointer."""
