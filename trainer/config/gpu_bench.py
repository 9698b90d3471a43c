"""Throughput benchmark on one GPU: synthetic batches of 512, a fixed number of steps.

trainer/gpu_run.sh runs it eager fp32 and with bf16 + channels_last + torch.compile.
"""

from dataclasses import replace

from trainer.config.base import config as base

config = replace(
    base, dataset="synthetic", synthetic_classes=10_000, synthetic_size=512, batch_size=512,
    steps=60, warmup_steps=5, imprint_head=False, freeze_bn=False, bench_skip_steps=10,
    log_every=10, save_checkpoint=False,
)
