#!/usr/bin/env bash
# The whole GPU run as one background job: tokenizers + classifier, then all generators concurrently, then
# evaluation (sampling sweep, metrics, PNGs) and export of the shipped files. Progress lines go to
# $WORK/runs/stages.txt; everything else to $WORK/runs/<name>/ and $WORK/runs/<name>.log.
#
#   setsid nohup tools/train/gpu_pipeline.sh DATA WORK [TOK_MIN] [CLS_MIN] [GEN_MIN] [FAMILIES] &
#
# Stages can be skipped by pre-creating their outputs (a tokenizer run whose eval.json exists is not retrained).
set -u
DATA=$(realpath "$1"); WORK=$2; TOKM=${3:-4}; CLSM=${4:-3}; GENM=${5:-15}
FAMS=${6:-"var flexvar mvar mambavar aim"}
COMMIT=${COMMIT:-unknown}
EVAL_ARGS=${EVAL_ARGS:---sweep --n 20}
R=$WORK/runs; C=$WORK/code
mkdir -p "$R" "$C/tools"
cp -r tools/train tools/eval tools/reference "$C"/tools/
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=$C/tools/train; E=$C/tools/eval
stage() { echo "$(date +%s) $*" >> "$R/stages.txt"; }
stage "start data=$DATA tok=${TOKM}m cls=${CLSM}m gen=${GENM}m fams=$FAMS"

# --- A: tokenizers + classifier ---
pids=()
if [ ! -f "$R/vqvae/eval.json" ]; then
  python3 $T/train_tokenizer.py --kind vqvae --zdim 32 --vocab 2048 --ch 32 --ch_mult 1,2,2 --res_blocks 2 \
    --batch 256 --lr 2e-3 --data "$DATA" --out "$R/vqvae" --minutes "$TOKM" > "$R/vqvae.log" 2>&1 &
  pids+=($!)
fi
if [ ! -f "$R/flexvqvae/eval.json" ]; then
  python3 $T/train_tokenizer.py --kind flexvqvae --zdim 16 --vocab 2048 --ch 32 --ch_mult 1,2,2 --res_blocks 2 \
    --batch 256 --lr 2e-3 --data "$DATA" --out "$R/flexvqvae" --minutes "$TOKM" > "$R/flexvqvae.log" 2>&1 &
  pids+=($!)
fi
if [ ! -f "$R/classifier/eval.json" ]; then
  python3 $E/train_classifier.py --data "$DATA" --out "$R/classifier" --minutes "$CLSM" > "$R/classifier.log" 2>&1 &
  CLS_PID=$!
fi
for p in "${pids[@]}"; do wait $p; done
stage "A tokenizers done"

# --- B: generators, concurrently ---
pids=()
for fam in $FAMS; do
  case $fam in
    var|mvar) tok=vqvae; size="--depth 6 --width 256 --heads 4 --lr 1.5e-3" ;;
    mambavar) tok=vqvae; size="--depth 4 --width 256 --heads 4 --lr 1e-3" ;;
    flexvar)  tok=flexvqvae; size="--depth 6 --width 256 --heads 4 --lr 1.5e-3" ;;
    aim)      tok=flexvqvae; size="--depth 10 --width 256 --lr 1e-3" ;;
  esac
  [ -f "$R/$fam/eval.json" ] && continue
  python3 $T/train_generator.py --family $fam --tokenizer "$R/$tok/ckpt.pt" --data "$DATA" --out "$R/$fam" \
    --minutes "$GENM" --batch 256 --warmup 150 $size > "$R/$fam.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait $p; done
[ -n "${CLS_PID:-}" ] && wait $CLS_PID
stage "B generators done"

# --- C: evaluation, one process per generator ---
pids=()
for fam in $FAMS; do
  case $fam in var|mvar|mambavar) tok=vqvae ;; *) tok=flexvqvae ;; esac
  [ -f "$R/$fam/ckpt.pt" ] || continue
  python3 $E/evaluate.py --data "$DATA" --classifier "$R/classifier/ckpt.pt" --gen "$fam=$R/$fam/ckpt.pt:$R/$tok/ckpt.pt" \
    $EVAL_ARGS --out "$R/eval_$fam" --assets "$R/assets" > "$R/eval_$fam.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait $p; done
stage "C evaluation done"

# --- D: export ---
mkdir -p "$R/export"
for tok in vqvae flexvqvae; do
  python3 $T/export.py --ckpt "$R/$tok/ckpt.pt" --data "$DATA" --commit "$COMMIT" \
    --out "$R/export/fonts64-$tok.safetensors" >> "$R/export.log" 2>&1
done
for fam in $FAMS; do
  case $fam in var|mvar|mambavar) tok=vqvae ;; *) tok=flexvqvae ;; esac
  [ -f "$R/$fam/ckpt.pt" ] || continue
  defaults=$(python3 -c "import json,sys; m=json.load(open('$R/eval_$fam/metrics.json')); print(json.dumps(m['generators']['$fam']['default_setting']))" 2>/dev/null || echo '{}')
  python3 $T/export.py --ckpt "$R/$fam/ckpt.pt" --commit "$COMMIT" --tokenizer-file "fonts64-$tok.safetensors" \
    --defaults "$defaults" --out "$R/export/fonts64-$fam.safetensors" >> "$R/export.log" 2>&1
done
stage "D export done"
