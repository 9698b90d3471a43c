"""The training loop: ``python -m trainer.train --config smoke`` or, on GPUs,
``torchrun --nproc_per_node=N -m trainer.train --config sface_finetune``.

bf16 autocast on CUDA (fp32 on CPU), optional ``torch.compile`` and
channels_last, DDP when torchrun starts the processes. The process group is
made inside :func:`main` from torchrun's environment; only rank 0 writes the
checkpoint, the logs and ``metrics.json`` (images/s, peak GPU memory).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

from trainer.config import TrainConfig, config_record, load_config
from trainer.data import DeviceBatches, FaceSet, build_faceset
from trainer.losses import MarginHead, build_head
from trainer.model import build_backbone, set_bn_eval, to_input
from trainer.run_privacy import CHECKPOINT, SPLIT
from trainer.tracking import Tracker, open_tracker

log = logging.getLogger("trainer.train")
METRICS = "metrics.json"


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the only one that writes."""
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, else Gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(rank, local, world)


class Trainee(nn.Module):
    """Backbone and margin head as one module whose forward is the loss (what DDP wraps)."""

    def __init__(self, backbone: nn.Module, head: MarginHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean margin loss of a batch."""
        return self.head(self.backbone(x), labels)


def warmup_cosine(warmup: int, total: int):  # noqa: ANN201 - a LambdaLR factor
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


@torch.no_grad()
def imprint(head: MarginHead, backbone: nn.Module, faces: FaceSet, device: torch.device,
            amp: bool, chunk: int = 256) -> None:
    """Start each class centre at the backbone's mean unit embedding of that class."""
    backbone.eval()
    total = torch.zeros_like(head.weight, dtype=torch.float32)
    labels = torch.from_numpy(faces.labels).to(device)
    for i in range(0, len(labels), chunk):
        x = to_input(torch.from_numpy(faces.faces[i:i + chunk]).to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            emb = F.normalize(backbone(x).float())
        total.index_add_(0, labels[i:i + chunk], emb)
    seen = total.norm(dim=1, keepdim=True) > 0
    head.imprint(torch.where(seen, total, head.weight.detach().float()))


def train(cfg: TrainConfig, dist: Dist | None = None) -> dict[str, Any]:
    """Run ``cfg``; returns (and on rank 0 writes) the run's summary metrics."""
    dist = dist or Dist()
    device = (torch.device("cuda", dist.local_rank) if torch.cuda.is_available()
              else torch.device("cpu"))
    amp = cfg.amp and device.type == "cuda"
    torch.manual_seed(cfg.seed)
    torch.backends.cudnn.benchmark = True
    faces = build_faceset(cfg)
    backbone = build_backbone(cfg.backbone, cfg.backbone_onnx).to(device)
    head = build_head(cfg.head, cfg.embedding_dim, faces.num_classes, scale=cfg.scale,
                      margin=cfg.margin).to(device)
    if cfg.imprint_head:
        imprint(head, backbone, faces, device, amp)
    if cfg.channels_last:
        backbone.to(memory_format=torch.channels_last)
    model = Trainee(backbone, head)
    optimizer = torch.optim.SGD(
        [{"params": backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_scale},
         {"params": head.parameters(), "lr": cfg.lr}],
        momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                 warmup_cosine(cfg.warmup_steps, cfg.steps))
    step_fn: nn.Module = model
    if dist.world_size > 1:
        step_fn = nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.type == "cuda" else None)
    if cfg.compile:
        step_fn = torch.compile(step_fn)  # type: ignore[assignment]
    batches = DeviceBatches(faces, cfg.batch_size, device, seed=cfg.seed, rank=dist.rank,
                            world=dist.world_size)
    torch.manual_seed(cfg.seed + dist.rank)  # flips differ per rank, weights do not
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tracker = open_tracker(cfg, dist.is_main)
    model.train()
    if cfg.freeze_bn:
        set_bn_eval(backbone)
    losses: list[float] = []
    start = time.perf_counter()
    timed_from, timed_start = 0, start
    status = "FAILED"
    try:
        for step in range(1, cfg.steps + 1):
            face_u8, labels = next(batches)
            x = to_input(face_u8, cfg.channels_last)
            if cfg.hflip:
                flip = torch.rand(len(x), device=device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = step_fn(x, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
            if step == cfg.bench_skip_steps and step < cfg.steps:
                _sync(device)
                timed_from, timed_start = step, time.perf_counter()
            if step % cfg.log_every == 0 or step == cfg.steps or step == 1:
                losses.append(float(loss.detach()))
                tracker.log_metrics({"loss": losses[-1], "lr": float(schedule.get_last_lr()[-1]),
                                     "wall_s": time.perf_counter() - start}, step)
        _sync(device)
        status = "FINISHED"
    finally:
        elapsed = time.perf_counter() - timed_start
        summary = _summary(cfg, dist, device, faces, losses, cfg.steps - timed_from, elapsed,
                           time.perf_counter() - start, amp)
        if dist.is_main:
            if status == "FINISHED":
                _write_outputs(cfg, backbone, head, faces, summary, tracker)
            tracker.log_metrics({k: v for k, v in summary.items() if isinstance(v, float)},
                                cfg.steps)
            tracker.close(status)
    return summary


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _summary(cfg: TrainConfig, dist: Dist, device: torch.device, faces: FaceSet,
             losses: list[float], timed_steps: int, timed_s: float, wall_s: float,
             amp: bool) -> dict[str, Any]:
    images = timed_steps * cfg.batch_size * dist.world_size
    peak = None
    if device.type == "cuda":
        peak_t = torch.tensor([torch.cuda.max_memory_allocated(device)], device=device)
        if dist.world_size > 1:
            torch_dist.all_reduce(peak_t, op=torch_dist.ReduceOp.MAX)
        peak = int(peak_t.item())
    return {
        "run": cfg.name, "device": torch.cuda.get_device_name(device) if peak is not None
        else "cpu", "torch": torch.__version__, "world_size": dist.world_size,
        "dataset": faces.source, "faces": len(faces.labels), "classes": faces.num_classes,
        "steps": cfg.steps, "timed_steps": timed_steps, "batch_size": cfg.batch_size,
        "precision": "bf16-autocast" if amp else "fp32", "compile": cfg.compile,
        "channels_last": cfg.channels_last,
        "tf32": {"conv": torch.backends.cudnn.allow_tf32,
                 "matmul": torch.backends.cuda.matmul.allow_tf32},
        "images_per_s": float(images / timed_s) if timed_s > 0 and images else float("nan"),
        "step_ms": float(1000.0 * timed_s / timed_steps) if timed_steps else float("nan"),
        "peak_gpu_mem_bytes": peak,
        "peak_gpu_mem_gib": float(peak / 2**30) if peak is not None else None,
        "first_loss": float(losses[0]) if losses else float("nan"),
        "final_loss": float(losses[-1]) if losses else float("nan"),
        "wall_s": float(wall_s),
    }


def _write_outputs(cfg: TrainConfig, backbone: nn.Module, head: MarginHead, faces: FaceSet,
                   summary: dict[str, Any], tracker: Tracker) -> None:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / SPLIT).write_text(json.dumps(
        {"dataset": faces.source, "eval_folds": list(cfg.eval_folds),
         "identities": list(faces.identities)}, indent=1))
    if cfg.save_checkpoint:
        torch.save({"backbone": backbone.state_dict(), "head": head.state_dict(),
                    "config": config_record(cfg), "identities": list(faces.identities),
                    "step": cfg.steps}, cfg.run_dir / CHECKPOINT)
    (cfg.run_dir / METRICS).write_text(json.dumps(summary, indent=2))
    tracker.log_artifact(cfg.run_dir / METRICS)


def main(argv: list[str] | None = None) -> int:
    """Parse ``--config NAME [--set field=value ...]``, join torchrun's group, train."""
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description=main.__doc__)
    parser.add_argument("--config", required=True, help="an experiment in trainer/config/")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a config field, e.g. --set steps=100 --set compile=true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(args.config, args.set)
    dist = setup_distributed()
    try:
        summary = train(cfg, dist)
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    if dist.is_main:
        print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
