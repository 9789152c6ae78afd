"""Sphinx helpers of the txsocketio documentation.

Each section's toctree ends with a ``*`` glob for the pages other people drop
into the folder; until they do, the glob matches nothing, which Sphinx reports
as a warning (not suppressible by ``suppress_warnings``: it has no type).
:class:`_EmptyGlobFilter` drops that one warning.

``twistd-options``: the options of ``twistd txsocketio``, read from
:class:`txsocketio.tap.Options` when the docs are built, so that the page
follows the code (usage: a ``{twistd-options}`` directive with no content).
"""

from __future__ import annotations

import logging
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _option_rows(options_class: Any) -> list[tuple[str, str, str]]:
    """``(names, default, help)`` for every flag, parameter and ``opt_`` method."""
    rows: list[tuple[str, str, str]] = []
    for long, short, help_ in getattr(options_class, "optFlags", []):
        names = f"--{long}" + (f", -{short}" if short else "")
        rows.append((names, "off", help_ or ""))
    for entry in getattr(options_class, "optParameters", []):
        long, short, default, help_ = (list(entry) + [None, None, None, ""])[:4]
        names = f"--{long}" + (f", -{short}" if short else "") + " VALUE"
        rows.append((names, "" if default is None else str(default), help_ or ""))
    seen = {row[0].split()[0] for row in rows}
    aliases: dict[Any, list[str]] = {}
    for attr in sorted(dir(options_class)):
        if attr.startswith("opt_") and attr not in ("opt_help", "opt_version"):
            aliases.setdefault(getattr(options_class, attr), []).append(attr[4:].replace("_", "-"))
    for method, names in aliases.items():
        names.sort(key=lambda n: (len(n) == 1, n))
        long = names[0]
        if f"--{long}" in seen:
            continue
        spelled = ", ".join(f"-{n}" if len(n) == 1 else f"--{n}" for n in names)
        doc = " ".join((method.__doc__ or "").split())
        rows.append((f"{spelled} VALUE", "", doc))
    return rows


class TwistdOptions(SphinxDirective):
    """A table of ``twistd txsocketio``'s own options."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from txsocketio.tap import Options

        rows = _option_rows(Options)
        table = nodes.table(classes=["twistd-options"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 12, 58):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row(["option", "default", "meaning"], literal=False)
        body = nodes.tbody()
        group += body
        for names, default, help_ in rows:
            body += self._row([names, default, help_], literal=True)
        return [table]

    @staticmethod
    def _row(cells: list[str], literal: bool) -> nodes.row:
        row = nodes.row()
        for i, text in enumerate(cells):
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            if literal and i < 2 and text:
                paragraph += nodes.literal(text, text)
            else:
                paragraph += nodes.Text(text)
            entry += paragraph
            row += entry
        return row


class _EmptyGlobFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "didn't match any documents" not in str(record.msg)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("twistd-options", TwistdOptions)
    # Sphinx's loggers are "sphinx." + the module name.
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_EmptyGlobFilter())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
