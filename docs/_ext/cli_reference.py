"""``{cli-reference}``: the command-line reference, generated from creme-fast's own
argparse parsers (``creme_fast.cli.build_parser``), so it cannot drift from ``--help``.

Each subcommand becomes a section with its description, its usage line and, per
argument group, every option with its help text (deprecated spellings, whose help
is suppressed, are left out as ``--help`` leaves them out).
"""
from __future__ import annotations

import argparse
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if action.nargs == "?":
        metavar = f"[{metavar}]"
    return ", ".join(f"{s} {metavar}" for s in action.option_strings)


def _group_list(group: Any) -> nodes.definition_list | None:
    items = nodes.definition_list()
    for action in group._group_actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        item = nodes.definition_list_item()
        term = nodes.term()
        term += nodes.literal(text=_invocation(action))
        item += term
        definition = nodes.definition()
        definition += nodes.paragraph(text=action.help or "")
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            definition += nodes.paragraph(text="choices: " + ", ".join(map(str, action.choices)))
        item += definition
        items += item
    return items if len(items.children) else None


class CliReference(SphinxDirective):
    """Sections for every ``creme-fast`` subcommand, straight from the parsers."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from creme_fast.cli import build_parser

        parser = build_parser()
        out: list[nodes.Node] = []
        for name, sub in _subcommands(parser).items():
            section = nodes.section(ids=[f"cli-{name}"], names=[f"creme-fast {name}"])
            section += nodes.title(text=f"creme-fast {name}")
            if sub.description:
                section += nodes.paragraph(text=sub.description)
            usage = sub.format_usage().strip().removeprefix("usage: ")
            section += nodes.literal_block(text=usage, language="text")
            for group in sub._action_groups:
                items = _group_list(group)
                if items is None:
                    continue
                section += nodes.rubric(text=group.title or "options")
                section += items
            out.append(section)
        return out


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
