#!/usr/bin/env bash
# One-shot GPU run of the trainer on a machine with no internet (one H100/H200, ~3-4 min):
#   1. eager fp32, synthetic batches of 512, fixed steps         -> images/s, peak GPU memory
#   2. bf16 autocast + channels_last + torch.compile, same steps -> images/s, peak GPU memory
#   3. (when the bundle has LFW crops) a short CosFace fine-tune of SFace on them, then ONNX
#      export with a PyTorch/onnxruntime parity check
# Results: $OUT/summary.json (all of it), $OUT/<run>.json per run, $OUT/run.log, and
# $OUT/model.onnx (the fine-tuned embedder). Scratch (checkpoints) goes to $SCRATCH.
#
# Needs python3 with torch (CUDA), onnx, onnxscript, onnxruntime, opencv-python-headless.
# Everything else travels with the repository (prepare on a machine with the project set up):
#   mkdir -p .cache/gpu
#   cp "$(.venv/bin/python -c 'from examgate.vision.model_files import locate_model as m
#   print(m("sface").path)')" .cache/gpu/sface.onnx
#   .venv/bin/python -m trainer.data --config sface_finetune --jpeg-quality 95 \
#       --out .cache/gpu/lfw_train.npz                                  # optional, ~7 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 -d .whl \
#       onnx2torch==1.5.15 pydantic==2.14.4 pydantic-core==2.50.5 pydantic-settings==2.16.3 \
#       annotated-types==0.8.0 typing-inspection==0.4.5 python-dotenv==1.2.4 \
#       typing-extensions==4.16.0
# Run from anywhere:  OUT=/path/to/results bash trainer/gpu_run.sh
# Knobs (environment): STEPS (60), BATCH (512), FT_STEPS (300), FT_BATCH (256),
# BUNDLE (.cache/gpu), WHEELS (.whl), SCRATCH (/tmp/examgate-gpu), PYTHON (python3),
# RUN_TIMEOUT (240 s, per run).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/gpu_run}
PY=${PYTHON:-python3}
BUNDLE=${BUNDLE:-.cache/gpu}
SCRATCH=${SCRATCH:-/tmp/examgate-gpu}
STEPS=${STEPS:-60}
BATCH=${BATCH:-512}
FT_STEPS=${FT_STEPS:-300}
FT_BATCH=${FT_BATCH:-256}
RUN_TIMEOUT=${RUN_TIMEOUT:-240}
WHEELS=${WHEELS:-.whl}
mkdir -p "$OUT" "$SCRATCH"
exec > >(tee -a "$OUT/run.log") 2>&1

if compgen -G "$WHEELS/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$SCRATCH/inductor"

SFACE="$BUNDLE/sface.onnx"
[ -f "$SFACE" ] && MODEL=(--set "backbone_onnx=$SFACE") || MODEL=()
COMMON=(--set "output_dir=$SCRATCH/runs" --set "steps=$STEPS" --set "batch_size=$BATCH")

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" - <<'EOF' > "$OUT/env.json"
import json, platform, torch, onnx, onnxruntime
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__,
                  "cuda": torch.version.cuda, "onnx": onnx.__version__,
                  "onnxruntime": onnxruntime.__version__,
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))
EOF
cat "$OUT/env.json"

train() {  # train RUN_NAME CONFIG [--set k=v ...]; copies metrics.json to $OUT/RUN_NAME.json
  local name=$1 config=$2; shift 2
  echo "=== $name ($(date +%T))"
  timeout "$RUN_TIMEOUT" "$PY" -m trainer.train --config "$config" --set "name=$name" \
    "${MODEL[@]}" "$@" || echo "=== $name failed (exit $?)"
  cp "$SCRATCH/runs/$name/metrics.json" "$OUT/$name.json" 2>/dev/null || true
}

train bench_eager_fp32 gpu_bench "${COMMON[@]}" \
  --set amp=false --set channels_last=false --set compile=false
train bench_bf16_cl_compile gpu_bench "${COMMON[@]}" \
  --set amp=true --set channels_last=true --set compile=true

if [ -f "$BUNDLE/lfw_train.npz" ]; then
  train finetune_lfw sface_finetune --set "output_dir=$SCRATCH/runs" \
    --set "crops_npz=$BUNDLE/lfw_train.npz" --set "steps=$FT_STEPS" \
    --set "batch_size=$FT_BATCH" --set log_every=25 --set warmup_steps=30
  if [ -f "$SCRATCH/runs/finetune_lfw/checkpoint.pt" ]; then
    echo "=== export ($(date +%T))"
    timeout "$RUN_TIMEOUT" "$PY" -m trainer.export --run "$SCRATCH/runs/finetune_lfw" \
      --out "$OUT/model.onnx" --faces "$BUNDLE/lfw_train.npz" > "$OUT/export.json" \
      || echo "=== export failed"
    cat "$OUT/export.json" 2>/dev/null
    cp "$SCRATCH/runs/finetune_lfw/log.jsonl" "$OUT/finetune_lfw.log.jsonl" 2>/dev/null || true
  fi
fi

"$PY" - "$OUT" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
runs = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
        if p.stem not in ("summary", "env", "export")}
export = out / "export.json"
summary = {"env": json.loads((out / "env.json").read_text()), "runs": runs,
           "export": json.loads(export.read_text()) if export.is_file() and export.stat().st_size
           else None}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
for name, r in runs.items():
    print(f"{name:24s} {r['images_per_s']:10.0f} img/s  {r['step_ms']:8.1f} ms/step  "
          f"peak {r['peak_gpu_mem_gib'] or 0:6.2f} GiB  loss {r['first_loss']:.4g} -> "
          f"{r['final_loss']:.4g}  ({r['precision']}, compile={r['compile']}, "
          f"channels_last={r['channels_last']})")
EOF
