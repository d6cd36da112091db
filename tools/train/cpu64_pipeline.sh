#!/usr/bin/env bash
# 64x64 glyphs (16x16 latent, VAR's 10-scale schedule 1,2,3,4,5,6,8,10,13,16) on the CPU, warm-started from the
# shipped 32x32 models, as one background job on 2 cores (one PyTorch job at a time):
#   1. the shipped residual VQ-VAE (weights/glyphs-vqvae.safetensors, unpacked) fine-tuned at 64 px, same
#      architecture (fully convolutional, so every tensor carries over; train_tokenizer.py --init);
#   2. a 64-px classifier for the evaluation;
#   3. VAR 6x256 from weights/glyphs-var.safetensors (train_generator.py --init: every tensor copied except the
#      per-scale tables, which are resized: pos_1LC keeps the 1..8 grids and bicubic-interpolates the 8x8 one to
#      10, 13, 16; lvl_embed levels 7-9 start from level 6);
#   4. evaluate.py (classifier accuracy and FD at cfg 3/top-k 50/top-p 0.95 and at cfg 1, sample grid and
#      coarse-to-fine strip as assets/samples-var64.png, assets/steps-var64.png);
#   5. if the default-cfg accuracy is >= 85 %: export weights/glyphs64-vqvae.safetensors and
#      weights/glyphs64-var.safetensors and the greedy fixture the Swift tests compare against.
#
#   setsid nohup tools/train/cpu64_pipeline.sh /work/data/fonts64.npz /work/data/cpu64 > /work/data/cpu64.log 2>&1 &
#
# Minutes per stage come from the environment (TOK_MIN, CLS_MIN (+ CLS_MORE up to CLS_MAX), GEN_MIN; or GEN_UNTIL=HH:MM, UTC, to end the
# generator's training then, less ENC_MIN for the dataset encoding, capped at GEN_MAX). The generator trains on
# a fixed random GEN_SUBSET of the training images (default 20,000 of 58,528, every class and face), which keeps
# the one-off encoding of the dataset to the 680-token pyramids short on 2 shared cores. `$W/overrides.env`, if
# present, is sourced before every stage (e.g. EVAL_N=10 to shorten a late evaluation). A stage whose eval.json /
# metrics.json exists is skipped, so a killed run continues where it stopped (training resumes from its checkpoint).
set -u
DATA=$(realpath "$1"); W=$2
unset SCALEWISE_PATCH_NUMS          # the 64-px default: 1,2,3,4,5,6,8,10,13,16 (tools/train/common.py)
export PYTHONUNBUFFERED=1
TOK_MIN=${TOK_MIN:-8}; CLS_MIN=${CLS_MIN:-2.5}; CLS_TARGET=${CLS_TARGET:-0.88}; CLS_MORE=${CLS_MORE:-2}; CLS_MAX=${CLS_MAX:-14}
GEN_MIN=${GEN_MIN:-}; GEN_UNTIL=${GEN_UNTIL:-}; GEN_SUBSET=${GEN_SUBSET:-20000}; ENC_MIN=${ENC_MIN:-6}; GEN_MAX=${GEN_MAX:-75}; EVAL_N=${EVAL_N:-20}; EVAL_BS=${EVAL_BS:-248}; MIN_ACC=${MIN_ACC:-0.85}
T=tools/train; E=tools/eval; R=tools/reference
DEF='{"cfg":3,"top_k":50,"top_p":0.95}'
mkdir -p "$W"
stage() { echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> "$W/stages.txt"; }
ovr() { [ -f "$W/overrides.env" ] && . "$W/overrides.env"; true; }
done_() { [ -f "$1/eval.json" ]; }
resume() { [ -f "$1/ckpt.pt" ] && echo --resume; }
cls_stat() { python3 -c "import json; e=json.load(open('$W/classifier/eval.json')); print(e['test_acc'], round(e['seconds'] / 60, 2))"; }
stage "start data=$DATA sha256=$(sha256sum "$DATA" | cut -c1-16)"

# 1. tokenizer: the shipped 32-px VQ-VAE, unpacked, fine-tuned at 64 px
[ -f "$W/vqvae32/ckpt.pt" ] || python3 $T/export.py --unpack weights/glyphs-vqvae.safetensors --out "$W/vqvae32/ckpt.pt"
ovr
done_ "$W/vqvae" || python3 $T/train_tokenizer.py --kind vqvae --zdim 16 --vocab 512 --ch 32 --ch_mult 1,2,2 \
  --res_blocks 1 --batch 32 --lr 1e-3 --warmup 50 --restart_every 100 --eval_every 150 --eval_n 256 \
  --init "$W/vqvae32/ckpt.pt" --data "$DATA" --out "$W/vqvae" --minutes "$TOK_MIN" --threads 2 $(resume "$W/vqvae") \
  > "$W/vqvae.log" 2>&1
stage "vqvae done"

# 2. classifier at 64 px (the net pools its input to 32x32). Budgeted in minutes like everything else, so on a
#    busy machine it may stop short: it is then continued (--resume, the budget raised by CLS_MORE minutes) until
#    its held-out accuracy reaches CLS_TARGET or its budget CLS_MAX minutes.
ovr
done_ "$W/classifier" || python3 $E/train_classifier.py --data "$DATA" --out "$W/classifier" --minutes "$CLS_MIN" \
  --threads 2 $(resume "$W/classifier") > "$W/classifier.log" 2>&1
stage "classifier done: $(cls_stat)"
while set -- $(cls_stat) && python3 -c "import sys; sys.exit(0 if $1 < $CLS_TARGET and $2 < $CLS_MAX else 1)"; do
  m=$(python3 -c "print(round($2 + $CLS_MORE, 2))")
  python3 $E/train_classifier.py --data "$DATA" --out "$W/classifier" --minutes "$m" --threads 2 --resume \
    >> "$W/classifier.log" 2>&1 || break
  stage "classifier continued to $m min: $(cls_stat)"
done

# 3. VAR 6x256 from the shipped 32-px VAR
ovr
if ! done_ "$W/var"; then
  if [ -z "$GEN_MIN" ] && [ -n "$GEN_UNTIL" ]; then
    GEN_MIN=$(python3 -c "import time,datetime as d; e=d.datetime.combine(d.datetime.utcnow().date(), \
d.time(*map(int,'$GEN_UNTIL'.split(':')))).replace(tzinfo=d.timezone.utc).timestamp(); \
print(round(max(5, min($GEN_MAX, (e-time.time())/60 - $ENC_MIN)), 1))")
  fi
  GEN_MIN=${GEN_MIN:-60}
  stage "var start minutes=$GEN_MIN"
  python3 $T/train_generator.py --family var --tokenizer "$W/vqvae/ckpt.pt" --data "$DATA" --out "$W/var" \
    --minutes "$GEN_MIN" --batch 32 --lr 1e-3 --warmup 50 --depth 6 --width 256 --heads 4 --threads 2 \
    --eval_every 600 --eval_n 128 --subset "$GEN_SUBSET" --init weights/glyphs-var.safetensors $(resume "$W/var") \
    > "$W/var.log" 2>&1
fi
stage "var done"

# 4. evaluation (sampled in batches of EVAL_BS images: 620 at 64 px needs > 10 GB)
ovr
[ -f "$W/eval_var/metrics.json" ] || python3 $E/evaluate.py --data "$DATA" --classifier "$W/classifier/ckpt.pt" \
  --gen "var64=$W/var/ckpt.pt:$W/vqvae/ckpt.pt" --default "$DEF" --n "$EVAL_N" --bs "$EVAL_BS" --threads 2 \
  --out "$W/eval_var" --assets assets > "$W/eval_var.log" 2>&1
stage "eval done"

# 5. export + greedy fixture, only if the generator is good enough
ovr
acc=$(python3 -c "import json; print(json.load(open('$W/eval_var/metrics.json'))['generators']['var64']['default']['acc'])")
if python3 -c "import sys; sys.exit(0 if $acc >= $MIN_ACC else 1)"; then
  python3 $T/export.py --ckpt "$W/vqvae/ckpt.pt" --data "$DATA" --out weights/glyphs64-vqvae.safetensors
  python3 $T/export.py --ckpt "$W/var/ckpt.pt" --tokenizer-file glyphs64-vqvae.safetensors \
    --defaults '{"cfg": 3, "top_k": 50, "top_p": 0.95}' --out weights/glyphs64-var.safetensors
  python3 $R/make_shipped_fixture.py weights/glyphs64-var.safetensors --classes 0 10 36 61 --cfg 3 --threads 2 \
    --out Tests/EngineTests/Fixtures/shipped/glyphs64-var-greedy.json
  stage "exported (default acc $acc)"
else
  stage "not exported: default acc $acc < $MIN_ACC"
fi
stage "all done"
