"""``history``'s pages, like the results pages: an index, a page per machine, plots, and the JSON::

    <out>/README.md                          the machines, their change points, links
    <out>/history.json                       everything the pages show, for other tools
    <out>/<machine>/README.md                per group: change points, plots, what was not measured
    <out>/<machine>/<group>/<series>.png/.svg
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpybench.history import text
from pytest_cpybench.history.changes import History
from pytest_cpybench.history.plots import plot_series
from pytest_cpybench.results.files import write_text_atomically

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass
class Written:
    index: Path
    data: Path
    pages: dict[str, Path] = field(default_factory=dict)  # machine -> its page
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "_"


def write(history: History, out: Path, plots: bool = True) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    written = Written(out / text.INDEX, out / text.DATA)
    links: dict[str, str] = {}
    for machine in history.machines:
        folder = out / safe(machine)
        folder.mkdir(parents=True, exist_ok=True)
        shown: dict[tuple[str, str], str] = {}
        if plots:
            shown = _plots(history, machine, folder, written)
        page = folder / text.INDEX
        write_text_atomically(page, text.machine_page(history, machine, shown))
        written.pages[machine] = page
        links[machine] = f"{safe(machine)}/{text.INDEX}"
    write_text_atomically(written.data, json.dumps(text.history_data(history), indent=1) + "\n")
    write_text_atomically(written.index, text.index_page(history, links))
    return written


def _plots(history: History, machine: str, folder: Path, written: Written) -> dict[tuple[str, str], str]:
    shown: dict[tuple[str, str], str] = {}
    for group in history.of_machine(machine):
        for series in group.series:
            points = [m for c in group.changes for m in c.members if m.name == series.name]
            title = f"{series.name} on {machine}, {history.branch} ({group.group.label})"
            stem = folder / group.group.slug / safe(series.name)
            paths, note = plot_series(series, points, history.line, title=title, out_stem=stem)
            if note and note not in written.notes:
                written.notes.append(note)
            if paths:
                written.plots.extend(paths)
                shown[(group.group.slug, series.name)] = f"{group.group.slug}/{paths[-1].name}"
    return shown
