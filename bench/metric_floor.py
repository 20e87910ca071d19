"""Do gankit's metrics rank what they should? Real-vs-real floors and sanity files, scored by ``gankit eval``.

  python bench/metric_floor.py                     # both tables (trains two short runs if missing)
  python bench/metric_floor.py --runs DIR          # the runs of bench/default_variants.py

Two tables, every file scored by :func:`gankit.evaluation.evaluate.evaluate` (what
``gankit eval --samples FILE --data ...`` runs) with the pinned mnist-cnn extractor, seed 0:

1. **Floors.** mnist5k is cut into the two seeded halves of ``tools/independent.py``: the
   reference R (2,500 digits, written as a PNG folder and given as ``--data``) and the
   check H. Scored against R with every metric: H (what a perfect generator would get),
   all 5,000 digits against themselves (``--data mnist5k``), 2,500 draws from H's digits
   of one class (3), and 2,500 images of uniform noise.
2. **Ranking.** Five files of 2,500 images against the 5,000 digits (``--metrics
   fid,modes``): real digits (H), the default preset as shipped, a poor GAN (the plain
   ``dcgan`` preset after 2,000 steps), uniform noise, one class.

The two runs are those of ``bench/default_variants.py`` (``shipped`` and ``plain``, its
step-2,000 checkpoint) in ``--runs``; the ones missing there are trained first (about 5 and
6 minutes on 2 cores). Both tables go to ``docs/results/metric_floor-<kind>.md``
(``--no-write``: printed only).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

import common
import gankit
from default_variants import checkpoint, train_variant
from gankit.apps.sampling import save_npz, save_png_folder
from gankit.data.embedded import load_mnist5k
from gankit.evaluation.evaluate import evaluate
from tools.independent import halves

TITLE = "Do gankit's metrics rank what they should? Real-vs-real floors and sanity files"

SEED = 0
N = 2500
ONE_CLASS = 3
POOR_STEP = 2000


def one_class(images: torch.Tensor, labels: torch.Tensor, n: int = N) -> torch.Tensor:
    """n draws (with repetition, seeded) from the images of class ONE_CLASS."""
    pool = images[labels == ONE_CLASS]
    picks = torch.randint(len(pool), (n,), generator=torch.Generator().manual_seed(SEED))
    return pool[picks]


def noise(n: int = N) -> torch.Tensor:
    """uint8 (n, 1, 28, 28) of uniform noise, seeded."""
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(SEED))


def labelled_half() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(R, H, H's labels): the halves of :func:`independent.halves`, with H's labels found
    by matching its images to mnist5k's rows."""
    reference, check = halves()
    data = load_mnist5k()
    index = {bytes(image.numpy()): int(label) for image, label in zip(data.images, data.labels)}
    labels = torch.tensor([index[bytes(image.numpy())] for image in check])
    return reference, check, labels


def a_run(runs: Path, name: str, at_step: int = 0) -> Path:
    """A run of bench/default_variants.py (trained here if missing), or its checkpoint."""
    run_dir = runs / name
    if not (run_dir / "config.json").is_file():
        print(f"training {name} into {run_dir} ...", flush=True)
        train_variant(name, run_dir)
    return checkpoint(run_dir, at_step)


def scored(images: torch.Tensor, data: str, metrics: str, work: Path, name: str) -> dict:
    path = save_npz(images, work / f"{name}.npz")
    return evaluate(samples=path, data=data, metrics=metrics, seed=SEED,
                    use_cache=False)["scores"]


def floors(reference: torch.Tensor, files: dict[str, torch.Tensor], work: Path
           ) -> tuple[dict, str]:
    """Every metric of each file against R: (figures, Markdown table)."""
    folder = str(save_png_folder(reference, work / "reference"))
    figures, rows = {}, []
    for i, (name, (images, data)) in enumerate(files.items()):
        s = scored(images, folder if data == "R" else data, "fid,kid,is,pr,dc,modes", work,
                   f"floor-{i}")
        figures[name] = s
        rows.append([name, f"{s['fid']:.3f}", f"{s['kid']:.4f} ± {s['kid_std']:.4f}",
                     f"{s['is']:.2f}", f"{s['precision']:.3f} / {s['recall']:.3f}",
                     f"{s['density']:.3f} / {s['coverage']:.3f}",
                     f"{s['modes']} / {s['num_classes']}"])
        print(common.table([""] * 7, rows[-1:]).splitlines()[-1], flush=True)
    return figures, common.table(["compared with R", "FID", "KID", "IS", "precision / recall",
                                  "density / coverage", "modes"], rows)


def ranking(files: dict[str, torch.Tensor], work: Path) -> tuple[dict, str]:
    """gankit FID and modes of each file against the 5,000 digits: (figures, Markdown)."""
    figures, rows = {}, []
    for i, (name, images) in enumerate(files.items()):
        s = scored(images, "mnist5k", "fid,modes", work, f"rank-{i}")
        figures[name] = s
        rows.append([name, f"{s['fid']:.2f}", s["modes"]])
        print(common.table([""] * 3, rows[-1:]).splitlines()[-1], flush=True)
    return figures, common.table(["file", "gankit FID (mnist-cnn)", "modes"], rows)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--runs", type=Path,
                        default=common.ROOT / "runs" / "bench-default-variants",
                        help="where bench/default_variants.py keeps its runs")
    args = parser.parse_args()
    print(common.machine_line())
    reference, check, labels = labelled_half()
    single = one_class(check, labels)
    default = gankit.sample(a_run(args.runs, "shipped"), n=N, seed=SEED)
    poor = gankit.sample(a_run(args.runs, "plain", POOR_STEP), n=N, seed=SEED)
    with tempfile.TemporaryDirectory(prefix="gankit-floor-") as tmp:
        work = Path(tmp)
        floor_figures, floor_table = floors(
            reference, {f"{N:,} digits (H) vs the other {len(reference):,} (R)": (check, "R"),
                        "all 5,000 vs themselves": (load_mnist5k().images, "mnist5k"),
                        f"one repeated digit class ({ONE_CLASS})": (single, "R"),
                        "uniform noise": (noise(), "R")}, work)
        rank_figures, rank_table = ranking(
            {"real digits (H)": check, "default preset (as shipped)": default,
             f"poor GAN (`dcgan`, {POOR_STEP:,} steps)": poor, "uniform noise": noise(),
             f"one class ({ONE_CLASS}) repeated": single}, work)
    markdown = (f"Seed {SEED}; {N:,} images per file against R ({len(reference):,} digits), "
                f"every metric:\n\n{floor_table}\n\n{N:,} images per file against the 5,000 "
                f"digits (`--metrics fid,modes`):\n\n{rank_table}")
    print("\n" + markdown)
    common.write_results("metric_floor", TITLE, {"floors": floor_figures,
                                                 "ranking": rank_figures}, markdown,
                         args=args, headline="real-vs-real FID (mnist-cnn) "
                         f"{floor_figures[next(iter(floor_figures))]['fid']:.3f}; noise "
                         f"{rank_figures['uniform noise']['fid']:.1f}")


if __name__ == "__main__":
    main()
