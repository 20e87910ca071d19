"""``gankit translate`` and ``gankit eval`` of a translation run: check, then hand off."""

from __future__ import annotations

import json
from pathlib import Path

from gankit.errors import UserError


def is_translation_run(run_dir: str | Path) -> bool:
    """Whether the run (folder or checkpoint file) was trained to translate images; read
    from its config.json without loading any network."""
    path = Path(run_dir)
    folder = path.parent.parent if path.is_file() else path
    try:
        tree = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return tree.get("translation", {}).get("mode", "off") != "off"


def cmd_translate(args) -> int:
    from gankit.apps.sampling import load
    from gankit.apps.translate import translate_files
    from gankit.cli.commands import device_of

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    run = load(args.run_dir, device=device_of(args))
    if not hasattr(run, "translator"):
        raise UserError(f"{args.run_dir} generates from noise; gankit translate needs an image "
                        f"translation run (--preset pix2pix or cyclegan)")
    written = translate_files(run, args.input, args.out, args.direction,
                              keep_size=args.keep_size, ema=args.ema,
                              progress=not args.no_progress)
    direction = args.direction or run.config.translation.direction
    where = written[0] if len(written) == 1 else Path(args.out)
    print(f"translated {len(written)} image(s) {direction} with the step-{run.step} "
          f"generator to {where}")
    return 0


def cmd_eval_translation(args) -> int:
    """``gankit eval`` of a translation run (``args.device`` already resolved)."""
    from gankit.apps.sampling import load
    from gankit.evaluation.evaluate import write_json
    from gankit.evaluation.translation import evaluate_translation, format_translation

    if args.samples:
        raise UserError("a translation run is scored on its own held-out images; drop "
                        "--samples")
    result = evaluate_translation(load(args.run_dir, device=args.device), args.direction,
                                  device=args.device)
    print(format_translation(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0
