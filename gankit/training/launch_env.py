"""What the environment says about this process's place in a ``torchrun`` job.

Torch-free, so that the command line can ask before it imports PyTorch.
"""

from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    """True when the environment names this process's place in a torchrun job."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK")) and \
        int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    """This process's global rank (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0
