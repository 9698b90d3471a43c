"""The retraining job: fine-tune the champion embedder, export it to ONNX, evaluate it.

``python -m trainer.train --config smoke`` runs anywhere (synthetic data, CPU);
``torchrun --nproc_per_node=N -m trainer.train --config sface_finetune`` is the
GPU job. Nothing in this package touches a process group, a GPU or the network
at import time.
"""
