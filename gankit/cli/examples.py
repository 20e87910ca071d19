"""The examples at the end of each sub-command's help (``gankit SUB --help``)."""

from __future__ import annotations

EXAMPLES = {
    "train": """examples:
  gankit train                                  # default preset on the embedded digits
  gankit train --preset seed-mlp --epochs 1     # the tutorial's §4 recipe, one epoch
  gankit train --preset seed-mlp --dry-run      # print the resolved config and stop
  gankit train --data cifar10 --root ~/datasets --steps 20000 --set optim.lr_g=1e-4
  gankit train --data ./faces --image-size 64 --channels 3
  gankit train --resume runs/default --steps 8000""",
    "sample": """examples:
  gankit sample runs/default -n 64 --out grid.png
  gankit sample runs/default -n 5000 --format npz --out samples.npz
  gankit sample runs/default -n 100 --format png --out samples/
  gankit sample runs/default -n 64 --truncation 0.7    # fewer odd samples, less variety""",
    "eval": """examples:
  gankit eval runs/default -n 5000 --json e.json      # the run's EMA generator vs its data
  gankit eval --samples samples.npz --data mnist5k    # any images (npz or folder)
  gankit eval runs/default --metrics fid,modes --extractor mnist-cnn""",
    "extractor": """examples:
  gankit extractor list                  # the shipped extractors: file, sha256, training data
  gankit extractor train --data mnist5k --out gankit/evaluation/metrics/weights/mnist_cnn.pt
  gankit extractor train --extractor digits-cnn --out gankit/evaluation/metrics/weights/digits_cnn.pt
  gankit extractor train --extractor emoji-cnn --root data --out gankit/evaluation/metrics/weights/emoji_cnn.pt""",
    "interpolate": """examples:
  gankit interpolate runs/default                         # 8 rows x 10 frames -> runs/default/interp.png
  gankit interpolate runs/default --frames 16 --rows 4 --out walk.png --gif   # also walk.gif
  gankit interpolate runs/default --truncation 0.7 --seed 3""",
    "export": """examples:
  gankit export runs/default --out G.onnx                    # ONNX, dynamic batch axis
  gankit export runs/default --format torchscript --out G.pt""",
    "watch": """examples:
  gankit watch runs/default                  # refresh every 5 s until Ctrl-C
  gankit watch runs/default --interval 30
  gankit watch runs/default --once           # print once and exit""",
    "inpaint": """examples:
  gankit inpaint runs/default --image digit.png --box 0,14,28,14 --out filled.png
  gankit inpaint runs/default --image digit.png --mask mask.png --out filled.png  # white = missing
  gankit inpaint runs/default --image digit.png --box 8,8,12,12 --restarts 5 --search-steps 300
  gankit inpaint runs/default --input digits/ --box 0,14,28,14 --out filled/   # a folder, one load""",
    "project": """examples:
  gankit project runs/default --image digit.png --out proj/       # proj/digit.png, proj/latents.npz
  gankit project runs/default --input digits/ --out proj/         # a folder, in batches
  gankit project runs/default --input digits/ --out proj/ --trace 20   # proj/trace/*.png
  gankit project runs/default --image digit.png --restarts 5 --search-steps 400 --prior-weight 0.1""",
    "directions": """examples:
  gankit directions runs/default                     # runs/default/directions.npz
  gankit directions runs/default --out dirs.npz""",
    "edit": """examples:
  gankit edit runs/default --latents proj/latents.npz --component 0 --amount -3:3:7 --out walk.png
  gankit edit runs/default --latents proj/latents.npz --class 0,1,2,3 --out classes.png
  gankit edit runs/default --latents proj/latents.npz --component 2 --sefa dirs.npz""",
    "sweep": """examples:
  gankit sweep --preset seed-tutorial --trials 20 --trial-steps 2000 \\
      --param optim.lr_g=loguniform:1e-5:1e-3 --param optim.beta1=uniform:0.0:0.9 \\
      --metric fid --minutes 30 --storage sqlite:///sweep.db   # again: continues the study
  gankit train --config sweeps/seed-tutorial-fid/best.yaml""",
    "report": """examples:
  gankit report runs/default                          # writes runs/default/report.html
  gankit report runs/default --out ~/report.html --neighbours 16""",
    "translate": """examples:
  gankit translate runs/pix2pix --input digits8px/ --out upscaled/   # a folder, PNGs out
  gankit translate runs/cyclegan --input digit.png --out mnist.png --direction AtoB
  gankit translate runs/cyclegan --input mnist/ --out digits/ --direction BtoA --keep-size""",
    "data": """examples:
  gankit data prepare ./photos --out photos.prepared --image-size 64   # sub-folders are classes
  gankit data prepare photos.zip --out photos.prepared --image-size 64 --resize pad --skip-bad
  gankit data prepare emoji-google --out emoji64     # a registered set (gankit list datasets)
  gankit data verify photos.prepared                 # the sha256 of the whole array
  gankit train --data photos.prepared --mirror""",
    "list": """examples:
  gankit list presets
  gankit list models""",
}
