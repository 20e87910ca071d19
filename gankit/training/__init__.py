"""Training: the trainer and its events, the training state, step strategies, callbacks,
checkpoints, the run driver, distributed training and speed settings. Built on core, data
and config; knows nothing of evaluation or the applications."""
