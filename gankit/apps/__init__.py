"""Applications of trained runs (and the training command that adds the monitors):
sampling, latent walks, inpainting, export, hyper-parameter sweeps, reports, watching."""
