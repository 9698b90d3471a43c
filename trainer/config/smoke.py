"""A few CPU steps on random tensors: checks the loop end to end, anywhere."""

from dataclasses import replace

from trainer.config.base import config as base

config = replace(
    base, dataset="synthetic", synthetic_classes=16, synthetic_size=32, batch_size=4, steps=3,
    warmup_steps=1, imprint_head=False, bench_skip_steps=1, log_every=1, lr=0.05,
)
