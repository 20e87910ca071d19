"""``gankit translate``: check, then hand off (``gankit eval`` of a translation run is its
kind's evaluation: :mod:`gankit.evaluation.kinds`)."""

from __future__ import annotations

import sys
from pathlib import Path

from gankit.errors import UserError


def cmd_translate(args) -> int:
    from gankit.apps.sampling import load
    from gankit.apps.translate import translate_emoji, translate_files
    from gankit.cli.commands import device_of
    from gankit.config.kinds import require

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    run = load(args.run_dir, device=device_of(args))
    require(run.kind, "translate", subject=args.run_dir)
    if args.emoji is not None:
        written = translate_emoji(run, args.emoji.split(","), args.out, args.direction,
                                  ema=args.ema)
    else:
        written = translate_files(run, args.input, args.out, args.direction,
                                  keep_size=args.keep_size, ema=args.ema,
                                  progress=not args.no_progress, warn=_warn)
    direction = args.direction or run.config.translation.direction
    where = written[0] if len(written) == 1 else Path(args.out)
    print(f"translated {len(written)} image(s) {direction} with the step-{run.step} "
          f"generator to {where}")
    return 0


def _warn(message: str) -> None:
    """One ``gankit: warning:`` line on stderr, as the deprecated flags' warnings are."""
    print(f"gankit: warning: {message}", file=sys.stderr)
