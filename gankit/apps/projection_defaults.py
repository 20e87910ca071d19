"""The projection search's defaults, torch-free so that the command line's parser can print
them without importing PyTorch.

``bench/projection.py --tune`` chooses them on 250 validation digits that the scored
benchmark never uses (the split of ``bench/inpaint_tuning.py``). Until it has run on a quiet
machine they are the inpainting search's tuned values (``inpaint_defaults``), with no feature
loss.
"""

from gankit.apps.inpaint_defaults import PRIOR_WEIGHT as INPAINT_PRIOR_WEIGHT

RESTARTS = 3  # random starts per image (per class for a conditional run)
SEARCH_STEPS = 200  # Adam steps of the latent search
PRIOR_WEIGHT = INPAINT_PRIOR_WEIGHT  # weight of mean(z^2): keeps z where G was trained
FEATURE_WEIGHT = 0.0  # weight of the mnist-cnn feature loss (0: pixels only)
