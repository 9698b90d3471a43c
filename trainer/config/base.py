"""Every knob of a training run, with its default; experiment files override a few.

An experiment is one module beside this one whose ``config`` is
``replace(base.config, ...)``; its file name is the run's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from examgate.core.paths import user_cache_dir


@dataclass(frozen=True)
class TrainConfig:
    """A training run: model, head, data, optimisation, speed flags and outputs."""

    name: str = "base"
    seed: int = 0

    # Model: a backbone from trainer.model.BACKBONES, initialised from an ONNX file
    # (None: the bundled SFace 2021dec, i.e. the bootstrap champion).
    backbone: str = "sface"
    backbone_onnx: Path | None = None
    embedding_dim: int = 128
    freeze_bn: bool = True  # fine-tuning batches are small and skewed: keep running stats

    # Margin head from trainer.losses.HEADS: cosface (s, m=0.35) or arcface (s, m=0.5).
    head: str = "cosface"
    scale: float = 64.0
    margin: float = 0.35
    imprint_head: bool = True  # start class centres at the backbone's mean embeddings

    # Data: synthetic | lfw | feedback (see trainer.data).
    dataset: str = "synthetic"
    synthetic_classes: int = 1000
    synthetic_size: int = 4096
    lfw_dir: Path = Path("../shared/datasets/lfw")  # from the working directory
    lfw_min_images: int = 3
    eval_folds: tuple[int, ...] = (0, 1, 2, 3, 4)  # View 2 folds kept for evaluation
    feedback_manifest: Path | None = None
    feedback_root: Path | None = None  # local mirror of the training bucket
    crops_npz: Path | None = None  # pre-aligned crops (skips detection; the GPU bundle)
    cache_dir: Path = user_cache_dir() / "trainer"
    hflip: bool = True

    # Optimisation: SGD, linear warm-up then cosine decay, per-GPU batch.
    batch_size: int = 128
    steps: int = 1000
    lr: float = 0.01
    backbone_lr_scale: float = 0.1  # the pretrained backbone moves slower than the new head
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_steps: int = 50
    grad_clip: float = 5.0

    # Speed: bf16 autocast on CUDA (fp32 on CPU), torch.compile, channels_last.
    amp: bool = True
    compile: bool = False
    channels_last: bool = False
    bench_skip_steps: int = 5  # steps left out of images/s (compilation, cuDNN autotune)

    # Outputs: out/trainer/<name>/ on rank 0; MLflow when a tracking URI is given.
    output_dir: Path = Path("out/trainer")
    log_every: int = 10
    save_checkpoint: bool = True
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "examgate-trainer"

    @property
    def run_dir(self) -> Path:
        """Where rank 0 writes this run's checkpoint, logs and metrics."""
        return self.output_dir / self.name


config = TrainConfig()
