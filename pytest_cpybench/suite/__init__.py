"""The benchmark suite: pyperformance's manifests read into plain records, and selections of them."""
