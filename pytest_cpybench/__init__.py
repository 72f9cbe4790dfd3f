"""pytest-cpybench: build CPython at a git ref, run pyperformance under it, gate on performance."""

__version__ = "0.1.0"
