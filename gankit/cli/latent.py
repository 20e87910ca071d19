"""``gankit inpaint|project|directions|edit``: the commands that search or walk a run's latent
space. Each checks its arguments and hands off to :mod:`gankit.apps` (imported when the
command runs)."""

from __future__ import annotations

from pathlib import Path

from gankit.errors import UserError


def _run_dir(args) -> Path:
    """The run directory of ``args.run_dir`` (a checkpoint file's run), which must exist."""
    from gankit.training.checkpoint import run_dir_of

    if not Path(args.run_dir).exists():
        raise UserError(f"run directory not found: {args.run_dir}")
    return run_dir_of(args.run_dir)


def _load(args, command: str):
    from gankit.apps.latent_search import noise_run
    from gankit.cli.commands import device_of

    return noise_run(args.run_dir, command, device_of(args))


# --- inpaint ----------------------------------------------------------------------------------

def cmd_inpaint(args) -> int:
    from gankit.apps.inpaint import inpaint_folder, inpaint_image
    from gankit.cli.commands import device_of

    base = _run_dir(args)
    search = dict(mask=args.mask, box=args.box, restarts=args.restarts,
                  steps=args.search_steps, seed=args.seed, feature_weight=args.feature_weight,
                  ema=args.ema, device=device_of(args), prior_weight=args.prior_weight,
                  realism_weight=args.realism_weight, progress=not args.no_progress)
    if args.image is not None:
        out = Path(args.out) if args.out else base / "inpainted.png"
        result = inpaint_image(args.run_dir, args.image, out=out, **search)
        label = f", class {result['label']}" if result["label"] is not None else ""
        print(f"wrote {result['path']}: {result['missing_pixels']} pixels filled{label}; "
              f"fit MSE on the known pixels {result['fit_mse']:.5f}, MSE on the filled "
              f"pixels vs the input's pixels there {result['hidden_mse']:.5f} (pixels in "
              f"[0, 1])")
        return 0
    out = Path(args.out) if args.out else base / "inpainted"
    if out.suffix.lower() == ".png":
        raise UserError(f"with --input, --out names a folder for the filled images, not {out}")
    result = inpaint_folder(args.run_dir, args.input, out, **search)
    n = len(result["paths"])
    print(f"wrote {n} filled image(s) to {out}: {result['missing_pixels']} pixels filled in "
          f"each; mean fit MSE on the known pixels {float(result['fit_mse'].mean()):.5f}, "
          f"mean MSE on the filled pixels vs the inputs' pixels there "
          f"{float(result['hidden_mse'].mean()):.5f} (pixels in [0, 1])")
    return 0


# --- project ----------------------------------------------------------------------------------

def cmd_project(args) -> int:
    from gankit.apps.project import project_files

    base = _run_dir(args)
    out = Path(args.out) if args.out else base / "projection"
    run = _load(args, "project")
    projection, written = project_files(
        run, args.image or args.input, out, restarts=args.restarts, steps=args.search_steps,
        seed=args.seed, prior_weight=args.prior_weight, feature_weight=args.feature_weight,
        trace_every=args.trace or 0, ema=args.ema)
    n = len(projection.z)
    classes = ""
    if projection.labels is not None:
        counts = projection.labels.bincount(minlength=run.num_classes).tolist()
        classes = "; classes found: " + ", ".join(f"{k}: {c}" for k, c in enumerate(counts)
                                                  if c)
    print(f"projected {n} image(s) with the step-{run.step} generator into {out}: mean fit "
          f"MSE {float(projection.fit_mse.mean()):.5f}, mean PSNR "
          f"{float(projection.psnr.mean()):.1f} dB (pixels in [0, 1]){classes}")
    print(f"latents: {out / 'latents.npz'}" + (f"; search paths: {out / 'trace'}/"
                                              if args.trace else ""))
    return 0


# --- directions and edit ----------------------------------------------------------------------

def cmd_directions(args) -> int:
    import torch

    from gankit.apps.directions import SIGN_RULE, directions, output_change, save_directions

    out = Path(args.out) if args.out else _run_dir(args) / "directions.npz"
    run = _load(args, "directions")
    found = directions(run, ema=args.ema)
    path = save_directions(found, out)
    top = found.directions[:5]
    random = torch.randn(len(top), top.shape[1], generator=torch.Generator().manual_seed(0))
    random = random / random.norm(dim=1, keepdim=True)
    G, latent_dim = run.generator if args.ema else run.G, run.config.model.latent_dim
    moved = [output_change(G, v, latent_dim=latent_dim, num_classes=run.num_classes)
             for v in (top, random)]
    share = found.eigenvalues / found.eigenvalues.sum()
    print(f"wrote {len(found.directions)} SeFa directions of {found.layer} (step {run.step}) "
          f"to {path}; signs: {SIGN_RULE}")
    for k in range(len(top)):
        print(f"  direction {k}: eigenvalue {float(found.eigenvalues[k]):.4g} "
              f"({100 * float(share[k]):.1f} % of the sum); amount 3 moves G's pixels by "
              f"{float(moved[0][k]):.4f} on average over 64 latents")
    print(f"  (5 random directions of the same norm: {float(moved[1].mean()):.4f}; pixels in "
          f"the model's range)")
    return 0


def cmd_edit(args) -> int:
    from gankit.apps.directions import edit
    from gankit.apps.latent import save_interpolation_grid

    out = Path(args.out) if args.out else _run_dir(args) / "edit.png"
    run = _load(args, "edit")
    strip = edit(run, args.latents, component=args.component,
                 amounts=None if args.classes else args.amount, classes=args.classes,
                 directions=args.sefa, ema=args.ema)
    path = save_interpolation_grid(strip, out)
    what = (f"direction {args.component}, amounts {args.amount}" if args.classes is None else
            f"own class, then class {','.join(map(str, args.classes))}")
    print(f"wrote {strip.shape[0]} x {strip.shape[1]} edit strip ({what}) from step "
          f"{run.step} to {path}")
    return 0
