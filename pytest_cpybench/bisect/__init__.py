"""Find the commit that changed a benchmark: the search (pure) and the bisector that builds and measures."""
