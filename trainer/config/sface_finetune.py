"""Fine-tune the champion SFace with CosFace on LFW identities kept out of calibration and
evaluation (one GPU or torchrun)."""

from dataclasses import replace

from trainer.config.base import config as base

config = replace(
    base, dataset="lfw", lfw_min_images=3, head="cosface", scale=64.0, margin=0.35,
    batch_size=128, steps=600, lr=0.02, backbone_lr_scale=0.1, warmup_steps=50,
    amp=True, channels_last=True, compile=False, log_every=20,
)
