#!/usr/bin/env bash
# After tools/train/cpu_pipeline.sh: classifier metrics for every generator (VAR re-measured with the same
# classifier as the others), sample grids and coarse-to-fine strips, export to weights/, and the greedy fixtures
# the Swift tests compare against. One stage at a time on 2 cores.
#
#   tools/train/cpu_eval.sh /work/data/fonts32.npz /work/data/cpu32 [FAMILIES]
set -eu
DATA=$(realpath "$1"); W=$2
FAMS=${3:-"var flexvar mvar mambavar aim"}
export SCALEWISE_PATCH_NUMS=1,2,3,4,5,6,8 PYTHONUNBUFFERED=1
T=tools/train; E=tools/eval; R=tools/reference
VARDEF='{"cfg":3,"top_k":50,"top_p":0.95}'
[ -f "$W/var/ckpt.pt" ] || python3 $T/export.py --unpack weights/glyphs-var.safetensors --out "$W/var/ckpt.pt"
[ -f weights/glyphs-flexvqvae.safetensors ] || python3 $T/export.py --ckpt "$W/flexvqvae/ckpt.pt" --data "$DATA" \
  --out weights/glyphs-flexvqvae.safetensors
for fam in $FAMS; do
  case $fam in
    var|mvar|mambavar) tok=vqvae; tokfile=glyphs-vqvae.safetensors; how="--default $VARDEF" ;;
    flexvar) tok=flexvqvae; tokfile=glyphs-flexvqvae.safetensors; how="--default $VARDEF" ;;
    aim)     tok=flexvqvae; tokfile=glyphs-flexvqvae.safetensors; how="--default {\"cfg\":3,\"top_k\":50,\"top_p\":0.95} --no_cfg1" ;;
  esac
  if [ ! -f "$W/eval_$fam/metrics.json" ]; then
    python3 $E/evaluate.py --data "$DATA" --classifier "$W/classifier/ckpt.pt" \
      --gen "$fam=$W/$fam/ckpt.pt:$W/$tok/ckpt.pt" $how --n 20 --threads 2 --out "$W/eval_$fam" \
      --assets "$W/assets" > "$W/eval_$fam.log" 2>&1
  fi
  [ $fam = var ] && continue   # already shipped; its metrics are re-measured only
  defaults=$(python3 -c "import json; m=json.load(open('$W/eval_$fam/metrics.json'))['generators']['$fam']; \
d=dict(m['default_setting']); d.pop('steps', None); d['constant_cfg'] = '$fam' == 'aim'; print(json.dumps(d))")
  python3 $T/export.py --ckpt "$W/$fam/ckpt.pt" --tokenizer-file $tokfile --defaults "$defaults" \
    --out "weights/glyphs-$fam.safetensors"
  steps=""; [ $fam = flexvar ] && steps="--steps 4 6 8"
  python3 $R/make_shipped_fixture.py "weights/glyphs-$fam.safetensors" --classes 0 10 36 61 --cfg 3 $steps \
    --out "Tests/EngineTests/Fixtures/shipped/glyphs-$fam-greedy.json"
done
