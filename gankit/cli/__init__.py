"""The ``gankit`` command: parses, validates, prints the resolved config, hands off.

User mistakes end as one line on stderr and exit code 2; no tensor maths lives here.
:mod:`~gankit.cli.parser` builds the argument parser, :mod:`~gankit.cli.train`,
:mod:`~gankit.cli.commands`, :mod:`~gankit.cli.data` and :mod:`~gankit.cli.listing` run the
sub-commands.
"""

from __future__ import annotations

import sys

from gankit.cli.commands import (cmd_eval, cmd_export, cmd_extractor, cmd_inpaint,
                                 cmd_interpolate, cmd_report, cmd_sample, cmd_sweep, cmd_watch)
from gankit.cli.data import cmd_data
from gankit.cli.listing import cmd_list
from gankit.cli.parser import EXAMPLES, build_parser
from gankit.cli.train import cmd_train, describe
from gankit.cli.translate import cmd_translate
from gankit.errors import UserError

HANDLERS = {"train": cmd_train, "sample": cmd_sample, "list": cmd_list, "eval": cmd_eval,
            "extractor": cmd_extractor, "report": cmd_report, "interpolate": cmd_interpolate,
            "export": cmd_export, "watch": cmd_watch, "inpaint": cmd_inpaint,
            "sweep": cmd_sweep, "translate": cmd_translate, "data": cmd_data}


def one_line(message: str) -> str:
    """The message with line breaks and other control characters (which may come from a
    user's file names) escaped, so that an error is always exactly one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # train --nproc relaunches it
        return HANDLERS[args.command](args)
    except UserError as exc:
        print(f"gankit: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "describe", "one_line", "EXAMPLES", "HANDLERS", "cmd_train",
           "cmd_sample", "cmd_eval", "cmd_extractor", "cmd_interpolate", "cmd_export",
           "cmd_watch", "cmd_report", "cmd_inpaint", "cmd_sweep", "cmd_list", "cmd_data"]
