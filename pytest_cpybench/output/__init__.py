"""What people read: terminal text, results pages, plots, CI summaries."""
