"""``gankit translate``: check, then hand off (``gankit eval`` of a translation run is its
kind's evaluation: :mod:`gankit.evaluation.kinds`)."""

from __future__ import annotations

from pathlib import Path

from gankit.errors import UserError


def cmd_translate(args) -> int:
    from gankit.apps.sampling import load
    from gankit.apps.translate import translate_files
    from gankit.cli.commands import device_of
    from gankit.config.kinds import require

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    run = load(args.run_dir, device=device_of(args))
    require(run.kind, "translate", subject=args.run_dir)
    written = translate_files(run, args.input, args.out, args.direction,
                              keep_size=args.keep_size, ema=args.ema,
                              progress=not args.no_progress)
    direction = args.direction or run.config.translation.direction
    where = written[0] if len(written) == 1 else Path(args.out)
    print(f"translated {len(written)} image(s) {direction} with the step-{run.step} "
          f"generator to {where}")
    return 0
