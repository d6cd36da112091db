#!/usr/bin/env bash
# Continue the shipped 64-px generators on a GPU, in one command with a fixed time budget: the
# tokenizers stay as shipped (unpacked back into training checkpoints), VAR and FlexVAR train concurrently from
# their shipped files (`--init`), then both are exported to $OUT with their logs. Run from the repository root:
#
#   OUT=/tmp/out tools/train/gpu_continue64.sh DATA MINUTES [FAMILIES]
#
# DATA is fonts64.npz; MINUTES the training budget of each generator (the LR schedule's cosine spans it). A hard
# `timeout` keeps the export from being lost when the budget runs long: a killed run exports its last minutely
# checkpoint. EXTRA (e.g. "--limit 256 --eval_n 64 --device cpu") is appended to the training arguments (smoke tests).
set -u
DATA=$1; MIN=$2; FAMS=${3:-"var flexvar"}
O=${OUT:-/tmp/out}; W=${WORK:-/tmp/gc64}
mkdir -p "$O" "$W"
export PYTHONUNBUFFERED=1
python3 -c "import safetensors" 2>/dev/null || pip install -q --no-index .build-data/safetensors-*.whl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
for tok in vqvae flexvqvae; do
  python3 tools/train/export.py --unpack weights/glyphs64-$tok.safetensors --out "$W/$tok/ckpt.pt"
done
hard=$(python3 -c "print(int($MIN * 60 + 75))")   # encoding (~30 s) + final held-out eval
pids=()
for fam in $FAMS; do
  case $fam in var) tok=vqvae ;; flexvar) tok=flexvqvae ;; esac
  timeout "$hard" python3 tools/train/train_generator.py --family $fam --tokenizer "$W/$tok/ckpt.pt" --data "$DATA" \
    --out "$W/$fam" --minutes "$MIN" --batch 256 --lr 1e-3 --warmup 100 --depth 6 --width 256 --heads 4 \
    --eval_every 60 --eval_n 1024 --init weights/glyphs64-$fam.safetensors ${EXTRA:-} > "$O/$fam.log" 2>&1 &
  pids+=($!)
done
export_all() {   # latest checkpoints -> $OUT (atomically), so a command cut short still brings models back
  for fam in $FAMS; do
    case $fam in var) tok=vqvae ;; flexvar) tok=flexvqvae ;; esac
    cp "$W/$fam/log.jsonl" "$O/$fam.jsonl" 2>/dev/null; cp "$W/$fam/eval.json" "$O/$fam.eval.json" 2>/dev/null
    [ -f "$W/$fam/ckpt.pt" ] || { echo "$fam: no checkpoint yet"; continue; }
    python3 tools/train/export.py --ckpt "$W/$fam/ckpt.pt" --commit "$COMMIT" \
      --tokenizer-file glyphs64-$tok.safetensors --defaults '{"cfg": 3, "top_k": 50, "top_p": 0.95}' \
      --out "$W/glyphs64-$fam.safetensors" > /dev/null && mv "$W/glyphs64-$fam.safetensors" "$O/"
  done
}
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
( while sleep 120; do export_all; done ) & exporter=$!
for p in "${pids[@]}"; do wait "$p"; done
kill $exporter 2>/dev/null; wait $exporter 2>/dev/null
export_all
for fam in $FAMS; do grep '^eval\|^final\|^init\|^tokens\|params\|memory' "$O/$fam.log" | cut -c1-300; done
ls -la "$O"
