"""The ``gankit`` command: parses, validates, prints the resolved config, hands off.

User mistakes end as one line on stderr and exit code 2; no tensor maths lives here. A
deprecated spelling of a flag still works and prints one warning line on stderr.
:mod:`~gankit.cli.parser` builds the argument parser, :mod:`~gankit.cli.train`,
:mod:`~gankit.cli.commands`, :mod:`~gankit.cli.extractor`, :mod:`~gankit.cli.translate`,
:mod:`~gankit.cli.data` and :mod:`~gankit.cli.listing` run the sub-commands.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from importlib import import_module

from gankit.cli.argtypes import DEPRECATIONS
from gankit.cli.parser import EXAMPLES, build_parser
from gankit.errors import UserError
from gankit.training.launch_env import launched_by_torchrun

# sub-command -> "module:function" of its handler, imported on dispatch: ``gankit --help``,
# ``gankit list`` and argument errors then answer without importing what the others need.
HANDLERS = {"train": "gankit.cli.train:cmd_train", "sample": "gankit.cli.commands:cmd_sample",
            "list": "gankit.cli.listing:cmd_list", "eval": "gankit.cli.commands:cmd_eval",
            "extractor": "gankit.cli.extractor:cmd_extractor",
            "report": "gankit.cli.commands:cmd_report",
            "interpolate": "gankit.cli.commands:cmd_interpolate",
            "export": "gankit.cli.commands:cmd_export", "watch": "gankit.cli.commands:cmd_watch",
            "inpaint": "gankit.cli.latent:cmd_inpaint", "sweep": "gankit.cli.commands:cmd_sweep",
            "project": "gankit.cli.latent:cmd_project",
            "directions": "gankit.cli.latent:cmd_directions", "edit": "gankit.cli.latent:cmd_edit",
            "translate": "gankit.cli.translate:cmd_translate", "data": "gankit.cli.data:cmd_data",
            "studio": "gankit.cli.studio:cmd_studio"}
# other names this package has always offered, also imported on first use
_LAZY = {"describe": "gankit.cli.train:describe"}


def handler(command: str):
    """The function that runs sub-command ``command``."""
    module, _, function = HANDLERS[command].partition(":")
    return getattr(import_module(module), function)


def __getattr__(name: str):
    """``gankit.cli.cmd_train``, ``gankit.cli.describe``, ...: imported when first used."""
    target = _LAZY.get(name) or next((t for t in HANDLERS.values() if t.endswith(f":{name}")),
                                     None)
    if target is None:
        raise AttributeError(f"module 'gankit.cli' has no attribute {name!r}")
    module, _, function = target.partition(":")
    return getattr(import_module(module), function)


def one_line(message: str) -> str:
    """The message with line breaks and other control characters (which may come from a
    user's file names) escaped, so that an error is always exactly one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def main(argv: list[str] | None = None) -> int:
    """Run one ``gankit`` command and return its exit code. In a process of a torchrun job
    (which has left its process group by then) the process ends here instead."""
    if not launched_by_torchrun():
        return _run(argv)
    faulthandler.enable()  # a crash of one rank prints where its Python code was
    code = _run(argv)
    # Skip the interpreter's and the C++ runtime's teardown: once, in this project's CI under
    # load, a rank aborted there after its work was saved (SIGABRT, "terminate called without
    # an active exception" from PyTorch's C++ side; not reproduced in 116 local runs), and
    # torchrun then reports the whole job as failed. Everything gankit writes is closed by
    # now (checkpoints are atomic, logs closed by their callbacks); flush what was printed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        for warning in getattr(args, DEPRECATIONS, []):
            print(f"gankit: warning: {warning}", file=sys.stderr)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # train --nproc relaunches it
        return handler(args.command)(args)
    except UserError as exc:
        print(f"gankit: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "describe", "one_line", "EXAMPLES", "HANDLERS", "handler",
           "cmd_train", "cmd_sample", "cmd_eval", "cmd_extractor", "cmd_interpolate", "cmd_export",
           "cmd_watch", "cmd_report", "cmd_inpaint", "cmd_sweep", "cmd_list", "cmd_data"]
