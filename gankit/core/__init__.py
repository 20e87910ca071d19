"""The mathematics of GANs: models, losses, penalties, augmentation and the single-update
functions ``d_step``/``g_step``. Depends on nothing else in gankit but errors and registry."""
