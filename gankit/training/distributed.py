"""Data-parallel training under ``torchrun``: PyTorch's DistributedDataParallel, gloo on the
CPU, NCCL on CUDA GPUs.

The loop asks one :class:`Context` everything rank-dependent, so a single process (no
``torchrun``) runs the very same code with ``world_size == 1``:

* each rank takes a strided share of every epoch's permutation (all ranks draw the same
  permutation from ``(seed, epoch)``), so global batch ``i`` is exactly the single-process
  batch ``i``, split across the ranks (:class:`ShardedEpochBatches`);
* the global batch is ``train.batch_size`` split evenly across the ranks, or
  ``train.per_device_batch`` x ranks when that is set;
* every rank draws the *global* noise z from the same random stream and keeps the rows
  that pair with its share of the real batch (:meth:`Context.noise`), so a DDP run computes
  the same mean losses and gradients as one process on the whole batch;
* G and D are wrapped in DDP (gradients averaged across ranks); BatchNorm can become
  synchronised BatchNorm (``train.sync_batchnorm``: batch statistics of the global batch);
* side effects (log, grids, checkpoints, TensorBoard, quality monitor, prints) happen on
  rank 0 only; decisions to stop (budget, target, divergence, signals, time) are all-reduced
  so that every rank leaves the loop at the same step.
"""

from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist
from torch import nn

from gankit.data.batches import EpochBatches
from gankit.data.streaming import StreamingBatches
from gankit.errors import UserError
from gankit.training.launch_env import env_rank, launched_by_torchrun  # noqa: F401 (API)


def split_batch(batch_size: int, per_device_batch: int, world_size: int) -> tuple[int, int]:
    """(global batch, per-process batch) for ``train.batch_size``/``train.per_device_batch``
    over ``world_size`` processes; a batch that does not split evenly is a UserError."""
    if per_device_batch:
        return per_device_batch * world_size, per_device_batch
    if batch_size % world_size:
        raise UserError(f"the batch size {batch_size} does not split evenly across "
                        f"{world_size} processes; choose a multiple of {world_size} or give "
                        f"--per-device-batch")
    return batch_size, batch_size // world_size


class Context:
    """Rank, world size and device of this process, with the helpers the loop needs.

    ``Context()`` is the single-process context (every helper is the identity).
    """

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0,
                 device: torch.device = torch.device("cpu"), owns_group: bool = False):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device, self.owns_group = device, owns_group

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- batch sizes and data ---------------------------------------------------------
    def batch_sizes(self, batch_size: int, per_device_batch: int = 0) -> tuple[int, int]:
        """(global batch, per-rank batch) for ``train.batch_size``/``train.per_device_batch``."""
        return split_batch(batch_size, per_device_batch, self.world_size)

    def epoch_batches(self, images, labels, global_batch: int, drop_last: bool, seed: int,
                      value_range: str, *, mirror: bool = False, stream: bool = False
                      ) -> EpochBatches:
        """This process's batches. ``stream``: ``images`` (uint8, memory-mapped on the CPU)
        stay where they are and each batch is gathered in a background thread
        (:class:`~gankit.data.streaming.StreamingBatches`), else they are on the device."""
        share = dict(mirror=mirror, rank=self.rank, world_size=self.world_size)
        if stream:
            return StreamingBatches(images, labels, global_batch, drop_last, seed,
                                    value_range, device=self.device, **share)
        return EpochBatches(images, labels, global_batch, drop_last, seed, value_range, **share)

    def noise(self, local_batch: int, latent_dim: int, device) -> torch.Tensor:
        """z (local_batch, latent_dim): this rank's rows of the global z (rank::world), which
        every rank draws from the same random stream; one process draws the global z."""
        if not self.enabled:
            return torch.randn(local_batch, latent_dim, device=device)
        z = torch.randn(local_batch * self.world_size, latent_dim, device=device)
        return z[self.rank::self.world_size]

    # --- models -----------------------------------------------------------------------
    def sync_batchnorm(self, module: nn.Module) -> nn.Module:
        """BatchNorm layers -> synchronised BatchNorm (same parameters and state dict)."""
        if not self.enabled:
            return module
        if self.device.type == "cuda":
            return nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return convert_cpu_sync_batchnorm(module)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel (itself for one process)."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(module, device_ids=ids, output_device=ids[0] if ids else None)

    @staticmethod
    def no_sync(wrapped: nn.Module):
        """Skip DDP's gradient hooks (G's step runs D with D's parameters frozen)."""
        sync = getattr(wrapped, "no_sync", None)
        return sync() if sync is not None else contextlib.nullcontext()

    # --- agreement --------------------------------------------------------------------
    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank (one all-reduce)."""
        if not self.enabled:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0], device=self._comm_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each 0-d tensor averaged over the ranks (the global batch's mean losses)."""
        if not self.enabled or not values:
            return values
        keys = list(values)
        stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
        stacked = stacked.to(self._comm_device())
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        stacked /= self.world_size
        return dict(zip(keys, stacked.unbind()))

    def sync_rng(self) -> None:
        """Give every rank rank 0's random state (CPU, and this rank's GPU), so that all ranks
        draw the same global z; building rank-0-only things may have drawn numbers."""
        if not self.enabled:
            return
        states = [torch.get_rng_state(),
                  torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None]
        dist.broadcast_object_list(states, src=0,
                                   device=self.device if self.device.type == "cuda" else None)
        torch.set_rng_state(states[0])
        if states[1] is not None:
            torch.cuda.set_rng_state(states[1], self.device)

    def gather_rows(self, local):
        """Reassemble arrays split as rows ``rank::world`` (numpy (n_r, ...) per rank) into
        the full array on every rank, in the original row order."""
        if not self.enabled or local is None:
            return local
        import numpy as np

        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, local)
        full = np.empty((sum(len(p) for p in parts), *parts[0].shape[1:]), parts[0].dtype)
        for rank, part in enumerate(parts):
            full[rank::self.world_size] = part
        return full

    def barrier(self) -> None:
        if self.enabled:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def start(device: torch.device, timeout_minutes: float = 30.0) -> Context:
    """The context of this process: joins torchrun's process group when launched by torchrun
    (gloo on the CPU, NCCL on CUDA: GPU ``LOCAL_RANK``), else the single-process context."""
    if not launched_by_torchrun():
        return Context(device=device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                            f"GPUs are visible: start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes),
                                **kwargs)
        owns = True
    return Context(rank, world, local_rank, device, owns_group=owns)


class ShardedEpochBatches(EpochBatches):
    """This rank's share of each global batch.

    Every rank draws the same permutation of epoch ``e``; rank r keeps its elements
    ``r, r + W, r + 2W, ...``, so its ``i``-th batch of ``global_batch / W`` rows is its
    strided share of the single-process batch ``i``. A last partial batch is cut to a
    multiple of W rows (at most W - 1 images of an epoch are skipped) so that all ranks
    hold equal shares and the averaged gradients are those of the global batch
    (:func:`gankit.data.batches.batch_rows`).
    """

    def __init__(self, images, labels, global_batch: int, drop_last: bool, seed: int,
                 value_range: str, *, rank: int, world_size: int, mirror: bool = False):
        super().__init__(images, labels, global_batch, drop_last, seed, value_range,
                         mirror=mirror, rank=rank, world_size=world_size)
        self.local_batch = global_batch // world_size


# --- synchronised BatchNorm on the CPU ------------------------------------------------------

class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; the gradient of every rank's input is the sum of the ranks'
    output gradients (each rank's loss depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Synchronised BatchNorm for the CPU (gloo): PyTorch's :class:`torch.nn.SyncBatchNorm`
    refuses CPU tensors (and DDP refuses it on CPU modules). Batch statistics come from the
    global batch through differentiable all-reduces (``torch.distributed.nn``), so forward
    and backward equal BatchNorm on the whole batch in one process. Parameters, buffers and
    state-dict names are BatchNorm's; in eval mode or in one process it is BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(input)
        dims = [0] + list(range(2, input.dim()))
        count = torch.tensor([float(input.numel() // input.shape[1])])
        dist.all_reduce(count)
        mean = _AllReduceSum.apply(input.sum(dims)) / count
        shape = [1, -1] + [1] * (input.dim() - 2)
        centred = input - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / count
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                unbiased = var * (count / max(float(count) - 1, 1.0))
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        return out


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` by :class:`CPUSyncBatchNorm` (same tensors)."""
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
            not isinstance(module, CPUSyncBatchNorm):
        out = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum,
                               module.affine, module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, convert_cpu_sync_batchnorm(child))
    return out


# --- gankit train --nproc N -------------------------------------------------------------------

def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch_local(nproc: int, argv: list[str], cpus: int) -> int:
    """Run ``gankit <argv>`` (without ``--nproc``) under ``torchrun --standalone
    --nproc_per_node=nproc`` on this machine, sharing its ``cpus`` between the processes;
    return its exit code."""
    import subprocess
    import sys

    env = dict(os.environ)
    # torchrun would set 1 thread per process (with a warning); share the cores instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, cpus // nproc)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "gankit", *strip_nproc(argv)]
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:  # torchrun forwards the signal; its workers checkpoint and exit
        return 130
