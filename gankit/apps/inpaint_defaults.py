"""The inpainting search's default weights, torch-free so that the command line's parser can
print them without importing PyTorch.

Chosen by ``bench/inpaint_tuning.py`` on 250 validation digits that the scored benchmark
(``bench/inpaint_heldout.py``) never uses; see the README's "Inpainting".
"""

PRIOR_WEIGHT = 0.25  # weight of mean(z^2): keeps z where G was trained
REALISM_WEIGHT = 0.0  # weight of the run's D on G(z): off, as it did not help with the prior
