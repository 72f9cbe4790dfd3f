"""A Sphinx directive that renders the options table from the option rows.

``pytest_cpybench.options.OPTIONS`` is the one list of the plugin's options: pytest's command line,
its ini keys and the ``python -m pytest_cpybench`` commands are made from it, and so is this table,
at build time, so that the docs cannot say something the code does not do. In a Markdown page::

    ```{cpybench-options}
    ```
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMNS = (("option", 22), ("default", 18), ("what it does", 45), ("in the commands", 15))


def _literal(text: str) -> nodes.Node:
    return nodes.literal(text, text)


def _cell(*children: nodes.Node) -> nodes.entry:
    paragraph = nodes.paragraph()
    paragraph.extend(children)
    return nodes.entry("", paragraph)


def _option_cell(option: Any) -> nodes.entry:
    """The flag and its ini key, or the ini key alone for an ini-only option."""
    if option.ini_only:
        return _cell(_literal(option.ini), nodes.Text(" (ini only)"))
    return _cell(_literal(option.flag), nodes.Text(" / ini "), _literal(option.ini))


def _help_cell(option: Any) -> nodes.entry:
    children: list[nodes.Node] = [nodes.Text(option.help)]
    if option.choices:
        children.append(nodes.Text(" Choices: "))
        for i, choice in enumerate(option.choices):
            if i:
                children.append(nodes.Text(", "))
            children.append(_literal(choice))
        children.append(nodes.Text("."))
    return _cell(*children)


def _commands_cell(option: Any) -> nodes.entry:
    return _cell(_literal(f"--{option.cli}")) if option.cli else _cell(nodes.Text("–"))


def options_table(options: Any) -> nodes.table:
    table = nodes.table(classes=["cpybench-options"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for _, width in COLUMNS:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header = nodes.row()
    for title, _ in COLUMNS:
        header += _cell(nodes.Text(title))
    head += header
    body = nodes.tbody()
    group += body
    for option in options:
        row = nodes.row(ids=[f"option-{option.name}"])
        row += _option_cell(option)
        row += _cell(nodes.Text(option.shown_default()))
        row += _help_cell(option)
        row += _commands_cell(option)
        body += row
    return table


class OptionsDirective(SphinxDirective):
    """``cpybench-options``: the table of every option row, in the rows' order."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from pytest_cpybench import options  # the checkout's rows, read at build time

        self.env.note_dependency(options.__file__)
        return [options_table(options.OPTIONS)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cpybench-options", OptionsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
