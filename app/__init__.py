"""Settings and the composition root that builds salesgraph's services from them."""
