"""``gankit sample|eval|interpolate|export|watch|report|inpaint|sweep``: each checks its
arguments and hands off to the app that does the work (imported when the command runs)."""

from __future__ import annotations

import sys
from pathlib import Path

from gankit.cli.train import parse_set
from gankit.errors import UserError


def _run_dir_of(path: str) -> Path:
    from gankit.training.checkpoint import run_dir_of

    return run_dir_of(path)


def device_of(args) -> str:
    """``--device`` resolved as training resolves ``train.device``: auto is cuda when
    PyTorch sees a GPU, else cpu; a device this machine lacks, or a bad name, is a
    UserError (one line, exit code 2)."""
    from gankit.training.driver import pick_device

    return str(pick_device(args.device))


# --- sample ---------------------------------------------------------------------------------

def cmd_sample(args) -> int:
    from gankit.apps.sampling import load, sample, save_grid, save_npz, save_png_folder, show
    from gankit.config.kinds import require
    from gankit.data import is_points_shape

    run = load(args.run_dir, device=device_of(args))
    require(run.kind, "sample", subject=args.run_dir)
    images = sample(run, n=args.n, seed=args.seed, ema=args.ema,
                    truncation=args.truncation, classes=args.classes)
    base = _run_dir_of(args.run_dir)
    default_out = {"grid": base / "sample.png", "npz": base / "samples.npz",
                   "png": base / "samples"}[args.format]
    out = Path(args.out) if args.out else default_out
    if is_points_shape(run.image_shape):  # 2-D toy sets: scatter plot or npz key "points"
        from gankit.evaluation.points import write_points

        print(write_points(images, out, args.format, run.config.data.name, run.step))
        return 0
    try:
        if args.format == "grid":
            # --classes: one row per class
            rows = -(-args.n // len(args.classes)) if args.classes else None
            path = save_grid(images, out, nrow=rows)
        elif args.format == "npz":
            if out.suffix != ".npz":
                raise UserError(f"--format npz writes a .npz file, not {out}")
            path = save_npz(images, out)
        else:
            path = save_png_folder(images, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {args.n} images from step {run.step} to {path}")
    if args.show:
        show(images, nrow=max(1, int(round(args.n ** 0.5))))
    return 0


# --- eval -----------------------------------------------------------------------------------

def cmd_eval(args) -> int:
    """A run is scored by its kind's evaluation (a noise-to-image run: FID and the other
    metrics of its samples; a translation run: its held-out translations); ``--samples``
    are scored like a noise-to-image run's samples."""
    from gankit.evaluation.evaluate import evaluate, format_table, write_json

    args.device = device_of(args)
    if args.run_dir and args.samples:
        raise UserError("give either RUN_DIR or --samples, not both")
    if not args.run_dir and not args.samples:
        raise UserError("give a RUN_DIR to sample from, or --samples FILE --data NAME")
    options = dict(data=args.data, n=args.n, metrics=args.metrics, reference=args.reference,
                   extractor=args.extractor, extractor_weights=args.extractor_weights,
                   seed=args.seed, device=args.device, root=args.root,
                   progress=not args.no_progress)
    if args.run_dir:
        from gankit.evaluation.kinds import evaluate_run
        from gankit.training.finished_run import load

        if not Path(args.run_dir).exists():
            raise UserError(f"run directory {args.run_dir} not found")
        result, text = evaluate_run(load(args.run_dir, device=args.device),
                                    direction=args.direction, **options)
    else:
        result = evaluate(samples=args.samples, **options)
        text = format_table(result)
    print(text)
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0


# --- interpolate ----------------------------------------------------------------------------

def cmd_interpolate(args) -> int:
    from gankit.apps.latent import interpolate, save_gif, save_interpolation_grid
    from gankit.apps.sampling import load
    from gankit.config.kinds import require

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    run = load(args.run_dir, device=device_of(args))
    require(run.kind, "interpolate", subject=args.run_dir)
    base = _run_dir_of(args.run_dir)
    out = Path(args.out) if args.out else base / "interp.png"
    if args.gif and out.suffix.lower() == ".gif":
        raise UserError(f"--out names the grid PNG; the GIF goes beside it ({out.with_suffix('.png')}"
                        f" -> {out})")
    frames = interpolate(run, frames=args.frames, rows=args.rows, seed=args.seed,
                         truncation=args.truncation, ema=args.ema)
    path = save_interpolation_grid(frames, out)
    print(f"wrote {args.rows} x {args.frames} interpolation grid from step {run.step} to {path}")
    if args.gif:
        gif = save_gif(frames, out.with_suffix(".gif"))
        print(f"wrote {args.frames}-frame animation to {gif}")
    return 0


# --- export ---------------------------------------------------------------------------------

def cmd_export(args) -> int:
    from gankit.apps.export import export_run
    from gankit.apps.sampling import load

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    out = Path(args.out) if args.out else None
    fmt = args.format or ("torchscript" if out is not None
                          and out.suffix.lower() in (".pt", ".pth", ".ts") else "onnx")
    if out is None:
        base = _run_dir_of(args.run_dir)
        out = base / ("G.onnx" if fmt == "onnx" else "G.pt")
    exported = export_run(load(args.run_dir), out, format=fmt, ema=args.ema,
                          direction=args.direction)
    print(f"wrote {exported.what} as {fmt} to {exported.path}: {exported.signature}")
    return 0


# --- watch ----------------------------------------------------------------------------------

def cmd_watch(args) -> int:
    from gankit.apps.watch import watch

    return watch(args.run_dir, interval=args.interval, once=args.once, width=args.width)


# --- report ---------------------------------------------------------------------------------

def cmd_report(args) -> int:
    from gankit.apps.report import build_report

    path = build_report(args.run_dir, out=args.out, neighbours=args.neighbours, seed=args.seed,
                        device=device_of(args), root=args.root)
    print(f"wrote {path}")
    return 0


# --- inpaint and sweep ----------------------------------------------------------------------

def cmd_inpaint(args) -> int:
    from gankit.apps.inpaint import inpaint_image

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    base = _run_dir_of(args.run_dir)
    out = Path(args.out) if args.out else base / "inpainted.png"
    result = inpaint_image(args.run_dir, args.image, mask=args.mask, box=args.box, out=out,
                           restarts=args.restarts, steps=args.search_steps, seed=args.seed,
                           feature_weight=args.feature_weight, ema=args.ema,
                           device=device_of(args), prior_weight=args.prior_weight,
                           realism_weight=args.realism_weight, progress=not args.no_progress)
    label = f", class {result['label']}" if result["label"] is not None else ""
    print(f"wrote {result['path']}: {result['missing_pixels']} pixels filled{label}; "
          f"fit MSE on the known pixels {result['fit_mse']:.5f}, MSE on the filled pixels vs "
          f"the input's pixels there {result['hidden_mse']:.5f} (pixels in [0, 1])")
    return 0


def cmd_sweep(args) -> int:
    from gankit.apps.sweep import sweep

    overrides = parse_set(args.overrides)
    if args.root is not None:
        overrides["data.root"] = args.root
    if args.device is not None:
        device_of(args)  # a device this machine lacks fails here, not in every trial
        overrides["train.device"] = args.device
    result = sweep(args.preset, args.params, args.trials, args.storage, metric=args.metric,
                   study_name=args.study, out=args.out, steps=args.trial_steps,
                   eval_every=args.eval_every, budget_minutes=args.minutes,
                   overrides=overrides, seed=args.seed, quiet=not args.verbose,
                   progress=not args.no_progress)
    print(result["table"])
    if result["best"] is not None:
        print(f"best: trial {result['best']['number']}, {args.metric} "
              f"{result['best']['value']:.4g}; config: {result['best_config']} "
              f"(gankit train --config {result['best_config']})")
        return 0
    failed = [t for t in result["trials"] if t["state"] == "FAIL"]
    why = (f"{len(failed)} failed (trial {failed[0]['number']}: "
           f"{failed[0]['failure'] or 'no reason recorded'})" if failed else
           "the budget ended first" if result["trials"] else "none was run")
    print(f"gankit: error: no trial finished: {why}", file=sys.stderr)
    return 1
