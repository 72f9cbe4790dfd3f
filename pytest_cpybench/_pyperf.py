"""The only user of pyperf's private API: what ``pyperf compare_to`` decides and how it writes sizes.

The pages (:mod:`pages`) reproduce ``pyperf compare_to --table``'s tables, so they must hide the
results pyperf hides ("Benchmark hidden because not significant") by pyperf's own test: a
Student t-test over all values (not process means) at 95%, with pyperf's special cases (one
value on each side counts as significant; so does any comparison the test cannot make, e.g.
different value counts). That test lives in ``pyperf._compare``; byte sizes are formatted by
``pyperf._formatter``. Both have been unchanged from pyperf 2.4.1 (the version of the seed pages)
to 2.11; pyproject.toml pins ``pyperf>=2.8,<3``, and tests/output/test_pages.py checks both names exist
and give the published pages' answers. Everything else of pyperf we use is public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyperf._compare import is_significant_benchs as _is_significant_benchs
from pyperf._formatter import format_filesize as _format_filesize

if TYPE_CHECKING:
    import pyperf


def is_significant(base: pyperf.Benchmark, head: pyperf.Benchmark) -> bool:
    """Whether ``pyperf compare_to`` shows this result (True) or hides it as not significant."""
    significant, _t_score = _is_significant_benchs(base, head)
    return bool(significant)


def format_size(size: float) -> str:
    """pyperf's writing of a byte count: "22.7 MiB", "793.0 KiB", "512 bytes"."""
    return str(_format_filesize(size))
