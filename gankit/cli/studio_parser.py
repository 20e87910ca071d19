"""The parser of ``gankit studio`` (torch-free: ``gankit --help`` imports this)."""

from __future__ import annotations

import argparse
from typing import Callable

from gankit.cli.argtypes import add_device_flag, add_ema_flag, positive_float, positive_int

EXAMPLES = """examples:
  gankit studio runs/default                          # http://127.0.0.1:7860/
  gankit studio runs/default runs/cg --port 8000      # two runs, picked in the page
  gankit studio runs/default --host 0.0.0.0           # reachable from other machines (warns)

# the studio needs its extra: pip install 'gankit[studio]'"""


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, got {value}")
    return value


def add_studio(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    studio = command("studio", "explore, edit and use trained runs in the browser: "
                     "generate, latent walks with SeFa sliders, project and edit a real "
                     "image, inpaint a region drawn with the mouse, translate, the run's "
                     "curves (a local web app)")
    studio.epilog = EXAMPLES
    studio.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories (or "
                        "checkpoint files) to serve; several appear in a run picker")
    studio.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(127.0.0.1: this machine only; any other address warns that "
                        "whoever reaches the port can use the CPU)")
    studio.add_argument("--port", type=port_number, default=7860, help="TCP port (7860; "
                        "0: any free port, printed)")
    studio.add_argument("--max-upload-mb", type=positive_float, default=8.0, metavar="MB",
                        help="largest upload (request body) in MB, refused while it is "
                        "read (8)")
    studio.add_argument("--workers", type=positive_int, default=2, metavar="N",
                        help="requests computed at once; the others wait their turn (2)")
    add_ema_flag(studio)
    add_device_flag(studio)
