"""Sphinx configuration of the pytest-cpybench docs (built with warnings as errors:
``python -m sphinx -W --keep-going -b html docs <out>``; tests/project/test_docs.py does exactly that)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))  # cpybench_options: the options page, from the option rows
sys.path.insert(0, str(HERE.parent))  # pytest_cpybench of this checkout, installed or not

from pytest_cpybench import __version__  # noqa: E402

project = "pytest-cpybench"
author = "the pytest-cpybench authors"
copyright = "the pytest-cpybench authors"
release = version = __version__

extensions = ["myst_parser", "cpybench_options"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Option names, shell commands and help texts are quoted as typed: no "--" turned into a dash,
# no curly quotes.
smartquotes = False

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = f"pytest-cpybench {release}"
html_static_path: list[str] = []
