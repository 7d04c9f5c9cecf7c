"""``asem variants``: the competing variants and their parameter schemas."""

from __future__ import annotations

import argparse
import math

from rich.console import Console
from rich.table import Table

from asem_bayes.registry import get_variant, list_variants
from asem_bayes.schema import Variant


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``asem variants``."""
    p = subparsers.add_parser(
        "variants",
        help="list the model variants and their parameters",
        description="List the registered ASEM variants: a description and, per parameter, its level, "
        "meaning, default prior, bounds and reference value.",
    )
    p.add_argument("names", nargs="*", metavar="VARIANT", help="variants to show (default: all)")
    p.add_argument("--brief", action="store_true", help="names and descriptions only")
    p.add_argument("--group", choices=["initial", "dynamics", "observation", "events"], help="only this group")
    p.set_defaults(func=run)


def _bound(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:g}"


GROUPS = ("initial", "dynamics", "observation", "events")


def variant_table(v: Variant, group: str | None = None) -> Table:
    """A rich table of one variant's parameters, by group (population, then person level)."""
    table = Table(title=f"{v.name}: {v.description}", title_justify="left")
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("prior", no_wrap=True)
    table.add_column("bounds", no_wrap=True)
    table.add_column("default", no_wrap=True)
    table.add_column("meaning", ratio=1, min_width=30)
    for g in GROUPS if group is None else (group,):
        rows = []
        for p in v.params:
            if p.group == g:
                lo, hi = p.bounds
                rows.append((p.name, "population", str(p.prior), f"({_bound(lo)}, {_bound(hi)})", f"{p.default:g}",
                             p.meaning))
        for pp in v.person_params:
            if pp.group == g:
                formula = f"{pp.mu} + {pp.sd} * z"
                prior = f"tanh({formula})" if pp.link == "tanh" else formula
                rows.append((pp.name, "person", prior, "", "", pp.meaning))
        if rows:
            table.add_row(f"[italic]{g}[/italic]", end_section=False)
            for i, row in enumerate(rows):
                table.add_row(*row, end_section=i == len(rows) - 1)
    return table


def run(args: argparse.Namespace) -> int:
    """Print the variants (all, or those named)."""
    names = args.names or list_variants()
    variants = [get_variant(n) for n in names]  # unknown names raise UnknownVariantError -> exit 2
    console = Console()
    if not console.is_terminal:  # files and pipes: wide enough that meanings stay on one or two lines
        console = Console(width=max(console.width, 160))
    if args.brief:
        table = Table("variant", "working models change?", "fatigue", "description", title="ASEM variants")
        for v in variants:
            table.add_row(v.name, "yes" if v.changes else "no", "yes" if v.fatigue else "no", v.description)
        console.print(table)
        return 0
    for v in variants:
        console.print(variant_table(v, args.group))
        console.print(
            f"  {len(v.params)} population and {len(v.person_params)} person-level parameters; "
            f"working models {'change' if v.changes else 'never change'}"
            f"{'; partner fatigue in the event model' if v.fatigue else ''}. "
            "Person level: z ~ Normal(0, 1) per person (non-centred).\n"
        )
    return 0
