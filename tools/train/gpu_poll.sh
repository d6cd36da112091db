#!/usr/bin/env bash
# Wait on the background pipeline (gpu_pipeline.sh), print its progress, and copy chosen results to $OUT.
#   tools/train/gpu_poll.sh WORK MAX_SECONDS "UNTIL_PATTERN" "WHAT"
# Returns when UNTIL_PATTERN appears in stages.txt or after MAX_SECONDS. WHAT (space-separated):
#   small            tokenizer checkpoints (fp32, no optimizer) + classifier, one tar
#   slim:NAME        bf16 weights-only checkpoint of generator NAME
#   q8:NAME          generator NAME's current checkpoint exported to int8 (no sampling defaults; a safety net)
#   export:NAME      the pipeline's final export of NAME (fonts64-NAME.safetensors)
# Logs, eval JSONs, metrics and PNGs always come back as logs.tgz.
set -u
WORK=$1; MAX=$2; UNTIL=${3:-never-matches}; WHAT=${4:-}
R=$WORK/runs; T=$WORK/code/tools/train
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$MAX" ]; do
  grep -q "$UNTIL" "$R/stages.txt" 2>/dev/null && break
  sleep 5
done
echo "== stages"; cat "$R/stages.txt"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
for f in "$R"/*.log; do echo "== $(basename "$f")"; grep -v '^step\|Warning\|warn(' "$f" | tail -n 4 | cut -c1-400; tail -n 1 "$f" | cut -c1-300; done
O=${OUT:-/tmp/out}; mkdir -p "$O"
for w in $WHAT; do
  case $w in
    small)
      mkdir -p "$WORK/small"
      for k in vqvae flexvqvae; do
        [ -f "$R/$k/ckpt.pt" ] && python3 $T/export.py --slim "$R/$k/ckpt.pt" --dtype fp32 --out "$WORK/small/$k.pt"
      done
      [ -f "$R/classifier/ckpt.pt" ] && cp "$R/classifier/ckpt.pt" "$WORK/small/classifier.pt"
      tar cf "$O/small.tar" -C "$WORK/small" . ;;
    slim:*)
      n=${w#slim:}
      [ -f "$R/$n/ckpt.pt" ] && python3 $T/export.py --slim "$R/$n/ckpt.pt" --dtype bf16 --out "$O/$n.pt" ;;
    q8:*)
      n=${w#q8:}
      [ -f "$R/$n/ckpt.pt" ] && python3 $T/export.py --ckpt "$R/$n/ckpt.pt" --tokenizer-file "?" \
        --out "$O/$n.q8.safetensors" ;;
    export:*)
      cp "$R/export/fonts64-${w#export:}.safetensors" "$O"/ 2>/dev/null ;;
  esac
done
(cd "$R" && tar czf "$O/logs.tgz" --exclude='*.pt' --exclude='*.tmp' --exclude='export' . 2>/dev/null)
ls -la "$O"
