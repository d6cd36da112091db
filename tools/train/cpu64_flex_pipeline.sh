#!/usr/bin/env bash
# FlexVAR at 64x64 (16x16 latent; random step schedules up to VAR's 10-scale list, 680 tokens) on the CPU,
# warm-started from the shipped 32x32 FlexVAR models, as one background job on 2 cores:
#   1. the shipped scalable tokenizer (weights/glyphs-flexvqvae.safetensors, unpacked) fine-tuned at 64 px, same
#      architecture (fully convolutional: every tensor carries over);
#   2. a 64-px classifier for the evaluation (skipped when CLASSIFIER names an existing one);
#   3. FlexVAR 6x256 from weights/glyphs-flexvar.safetensors (train_generator.py --init: every tensor copied; the
#      learnable 2D position map, 16x16 for an 8x8 latent, is bicubic-resized to 32x32 for a 16x16 one);
#   4. evaluate.py at the default setting (10 steps), at cfg 1, and at 6, 8 and 13 steps, with the sample grid and
#      coarse-to-fine strip as assets/samples-flexvar64.png, assets/steps-flexvar64.png;
#   5. if the default-cfg accuracy is >= MIN_ACC: export weights/glyphs64-flexvqvae.safetensors and
#      weights/glyphs64-flexvar.safetensors and the greedy fixture (10 steps, and 6, 8, 13) the Swift tests check.
#
#   setsid nohup tools/train/cpu64_flex_pipeline.sh /work/data/fonts64.npz /work/data/cpu64f > /work/data/cpu64f.log 2>&1 &
#
# Minutes per stage from the environment (FTOK_MIN, CLS_MIN (+ CLS_MORE up to CLS_MAX), GEN_MIN). `$W/overrides.env`,
# if present, is sourced before every stage. A stage whose eval.json / metrics.json exists is skipped, so a killed
# run continues where it stopped (training resumes from its checkpoint).
set -u
DATA=$(realpath "$1"); W=$2
unset SCALEWISE_PATCH_NUMS          # the 64-px default: 1,2,3,4,5,6,8,10,13,16 (tools/train/common.py)
export PYTHONUNBUFFERED=1
FTOK_MIN=${FTOK_MIN:-10}; CLS_MIN=${CLS_MIN:-2.5}; CLS_TARGET=${CLS_TARGET:-0.88}; CLS_MORE=${CLS_MORE:-2}; CLS_MAX=${CLS_MAX:-14}
GEN_MIN=${GEN_MIN:-50}; GEN_SUBSET=${GEN_SUBSET:-20000}; EVAL_N=${EVAL_N:-10}; EVAL_BS=${EVAL_BS:-248}; MIN_ACC=${MIN_ACC:-0.85}
CLASSIFIER=${CLASSIFIER:-$W/classifier}
T=tools/train; E=tools/eval; R=tools/reference
DEF='{"cfg":3,"top_k":50,"top_p":0.95,"steps":10}'
mkdir -p "$W"
stage() { echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> "$W/stages.txt"; }
ovr() { [ -f "$W/overrides.env" ] && . "$W/overrides.env"; true; }
done_() { [ -f "$1/eval.json" ]; }
resume() { [ -f "$1/ckpt.pt" ] && echo --resume; }
cls_stat() { python3 -c "import json; e=json.load(open('$CLASSIFIER/eval.json')); print(e['test_acc'], round(e['seconds'] / 60, 2))"; }
stage "start data=$DATA sha256=$(sha256sum "$DATA" | cut -c1-16)"

# 1. tokenizer: the shipped 32-px scalable VQ-VAE, unpacked, fine-tuned at 64 px
[ -f "$W/flexvqvae32/ckpt.pt" ] || python3 $T/export.py --unpack weights/glyphs-flexvqvae.safetensors --out "$W/flexvqvae32/ckpt.pt"
ovr
done_ "$W/flexvqvae" || python3 $T/train_tokenizer.py --kind flexvqvae --zdim 16 --vocab 512 --ch 32 --ch_mult 1,2,2 \
  --res_blocks 1 --batch 32 --lr 1e-3 --warmup 50 --restart_every 100 --eval_every 300 --eval_n 256 \
  --init "$W/flexvqvae32/ckpt.pt" --data "$DATA" --out "$W/flexvqvae" --minutes "$FTOK_MIN" --threads 2 \
  $(resume "$W/flexvqvae") > "$W/flexvqvae.log" 2>&1
stage "flexvqvae done"

# 2. classifier at 64 px, continued (--resume, CLS_MORE more minutes) until CLS_TARGET or CLS_MAX minutes
ovr
done_ "$CLASSIFIER" || python3 $E/train_classifier.py --data "$DATA" --out "$CLASSIFIER" --minutes "$CLS_MIN" \
  --threads 2 $(resume "$CLASSIFIER") > "$W/classifier.log" 2>&1
stage "classifier done: $(cls_stat)"
while set -- $(cls_stat) && python3 -c "import sys; sys.exit(0 if $1 < $CLS_TARGET and $2 < $CLS_MAX else 1)"; do
  m=$(python3 -c "print(round($2 + $CLS_MORE, 2))")
  python3 $E/train_classifier.py --data "$DATA" --out "$CLASSIFIER" --minutes "$m" --threads 2 --resume \
    >> "$W/classifier.log" 2>&1 || break
  stage "classifier continued to $m min: $(cls_stat)"
done

# 3. FlexVAR 6x256 from the shipped 32-px FlexVAR
ovr
if ! done_ "$W/flexvar"; then
  stage "flexvar start minutes=$GEN_MIN"
  python3 $T/train_generator.py --family flexvar --tokenizer "$W/flexvqvae/ckpt.pt" --data "$DATA" --out "$W/flexvar" \
    --minutes "$GEN_MIN" --batch 32 --lr 1e-3 --warmup 50 --depth 6 --width 256 --heads 4 --threads 2 \
    --eval_every 900 --eval_n 128 --subset "$GEN_SUBSET" --init weights/glyphs-flexvar.safetensors \
    $(resume "$W/flexvar") > "$W/flexvar.log" 2>&1
fi
stage "flexvar done"

# 4. evaluation (default = 10 steps; the FlexVAR sampler adds 6, 8 and 13 steps at a 16x16 latent)
ovr
[ -f "$W/eval_flexvar/metrics.json" ] || python3 $E/evaluate.py --data "$DATA" --classifier "$CLASSIFIER/ckpt.pt" \
  --gen "flexvar64=$W/flexvar/ckpt.pt:$W/flexvqvae/ckpt.pt" --default "$DEF" --n "$EVAL_N" --bs "$EVAL_BS" --threads 2 \
  --out "$W/eval_flexvar" --assets assets > "$W/eval_flexvar.log" 2>&1
stage "eval done"

# 5. export + greedy fixture, only if the generator is good enough
ovr
acc=$(python3 -c "import json; print(json.load(open('$W/eval_flexvar/metrics.json'))['generators']['flexvar64']['default']['acc'])")
if python3 -c "import sys; sys.exit(0 if $acc >= $MIN_ACC else 1)"; then
  python3 $T/export.py --ckpt "$W/flexvqvae/ckpt.pt" --data "$DATA" --out weights/glyphs64-flexvqvae.safetensors
  python3 $T/export.py --ckpt "$W/flexvar/ckpt.pt" --tokenizer-file glyphs64-flexvqvae.safetensors \
    --defaults '{"cfg": 3, "top_k": 50, "top_p": 0.95}' --out weights/glyphs64-flexvar.safetensors
  python3 $R/make_shipped_fixture.py weights/glyphs64-flexvar.safetensors --classes 0 10 36 61 --cfg 3 \
    --steps 6 8 13 --threads 2 --out Tests/EngineTests/Fixtures/shipped/glyphs64-flexvar-greedy.json
  stage "exported (default acc $acc)"
else
  stage "not exported: default acc $acc < $MIN_ACC"
fi
stage "all done"
