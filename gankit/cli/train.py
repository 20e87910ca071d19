"""``gankit train``: resolve and validate the config, print it, hand off to training."""

from __future__ import annotations

import json
from pathlib import Path

from gankit.errors import UserError


def parse_set(pairs: list[str]) -> dict[str, str]:
    """``--set KEY=VALUE`` arguments -> ``{KEY: VALUE}``."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def flag_overrides(args) -> dict[str, object]:
    """The config keys that ``train``'s own flags set (those given on the command line)."""
    from gankit.cli.config_flags import config_overrides

    return config_overrides(args)


def describe(cfg) -> str:
    """The resolved config, one line per section."""
    lines = [f"preset: {cfg.preset}" + (f"  ({cfg.description})" if cfg.description else "")]
    for section, values in cfg.to_dict().items():
        if isinstance(values, dict):
            body = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                            for k, v in values.items())
            lines.append(f"{section}: {body}")
    return "\n".join(lines)


def _resumed_config(args, overrides: dict[str, object]):
    """The saved config of the run in ``--resume``, with this command's overrides."""
    from gankit.config import apply_overrides, from_dict, validate

    if args.preset or args.config:
        raise UserError("--resume continues a run with its own config; drop --preset/--config")
    config_path = Path(args.resume) / "config.json"
    if not config_path.is_file():
        raise UserError(f"cannot resume: {config_path} not found")
    try:
        saved = from_dict(json.loads(config_path.read_text()))
    except ValueError:
        raise UserError(f"cannot resume: {config_path} is not valid JSON") from None
    cfg = apply_overrides(saved, overrides)
    validate(cfg)
    return cfg


def resolve_run(args):
    """(config, run directory) of a ``train`` command line."""
    from gankit.config import read_config_file, resolve

    overrides = {**flag_overrides(args), **parse_set(args.overrides)}
    if args.resume:
        cfg, run_dir = _resumed_config(args, overrides), Path(args.resume)
    else:
        file_overrides = read_config_file(args.config) if args.config else {}
        cfg = resolve(args.preset or "default", file_overrides, overrides)
        run_dir = Path(args.out) if args.out else Path("runs") / cfg.preset
    if args.out and args.resume and Path(args.out) != run_dir:
        raise UserError("give the run directory once: --resume RUN_DIR (without --out)")
    return cfg, run_dir


def _launch(args, cfg, run_dir: Path) -> int:
    """``--nproc N``: check what torchrun's processes would refuse, then start them."""
    from gankit.training.checkpoint import refuse_existing_run
    from gankit.training.distributed import launch_local, split_batch
    from gankit.training.driver import available_cpus

    if not args.resume:
        refuse_existing_run(run_dir)
    split_batch(cfg.train.batch_size, cfg.train.per_device_batch, args.nproc)
    return launch_local(args.nproc, args.argv, available_cpus())


def cmd_train(args) -> int:
    cfg, run_dir = resolve_run(args)
    from gankit.training.distributed import env_rank

    if (args.nproc or 1) > 1 and not args.dry_run:
        return _launch(args, cfg, run_dir)
    say = print if env_rank() == 0 else (lambda *a, **k: None)  # torchrun: rank 0 prints
    say(describe(cfg))
    if args.dry_run:
        return 0
    say(f"run directory: {run_dir}")
    from gankit.apps.train import run_training

    from gankit.training.driver import eager_start

    eager_start(cfg)  # about 1-2 s of start-up saved; see gankit/speed/lazy_imports.py

    run_training(cfg, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    return 0
