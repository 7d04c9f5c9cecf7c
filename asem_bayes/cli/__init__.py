"""The ``asem`` command line. Each subcommand lives in its own module with ``add_parser``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules (asem_bayes.cli.<name>), each defining ``add_parser(subparsers)`` that
# registers the parser and sets ``func`` to a callable taking the parsed args.
SUBCOMMANDS: tuple[str, ...] = ("variants", "simulate", "fit", "sbc", "recover", "compare", "whatif", "design")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` to an option's help, except where the default is ``None``: such
    options say in their help what they default to (e.g. "default: 400 with nutpie, 1000 with the others")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class _DefaultsParser(argparse.ArgumentParser):
    """Subcommand parsers whose ``--help`` shows every option's default."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        # argparse prints no default for an option without help text: give those a line of their own
        if args and str(args[0]).startswith("-") and "help" not in kwargs and kwargs.get("default") is not None:
            kwargs["help"] = "default: %(default)s"
        return super().add_argument(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asem", description="Bayesian modelling of the Attachment Security Enhancement Model"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_DefaultsParser)
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"asem_bayes.cli.{name}_cmd")
        except ModuleNotFoundError as err:
            if err.name != f"asem_bayes.cli.{name}_cmd":
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asem`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"asem {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
