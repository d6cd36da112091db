#!/usr/bin/env bash
# The CPU configuration (32x32 glyphs, 8x8 latent, scales 1,2,3,4,5,6,8) for every family after VAR, as one
# background job on 2 cores: stages run one after another (a second job would only halve the first one's speed).
# The residual tokenizer is the shipped one (weights/glyphs-vqvae.safetensors, unpacked), so M-VAR and MVAR pair
# with the same file as VAR. MVAR's spatial-Markov attention runs on the last two scales (6x6, 8x8) with a 5x5
# window, the analogue of the official 7x7 window on the last two of ten scales (13x13, 16x16).
#
#   setsid nohup tools/train/cpu_pipeline.sh /work/data/fonts32.npz /work/data/cpu32 > /work/data/cpu32.log 2>&1 &
#
# Minutes per stage come from the environment (defaults below). A stage whose eval.json exists is skipped, so a
# killed run continues where it stopped (stages in progress resume from their last checkpoint).
set -u
DATA=$(realpath "$1"); W=$2
export SCALEWISE_PATCH_NUMS=1,2,3,4,5,6,8 PYTHONUNBUFFERED=1
CLS_MIN=${CLS_MIN:-2.5}; FTOK_MIN=${FTOK_MIN:-8}; FLEX_MIN=${FLEX_MIN:-25}; MVAR_MIN=${MVAR_MIN:-12}
MAMBA_MIN=${MAMBA_MIN:-20}; AIM_MIN=${AIM_MIN:-12}
FAMS=${FAMS:-"flexvar mvar mambavar aim"}
T=tools/train; E=tools/eval
# Every generator's trunk starts from the shipped VAR where names and shapes match (train_generator.py --init):
# MVAR has VAR's layout (all of it), M-VAR shares attention/FFN/embeddings/head (not the 9C AdaLN, not Mamba),
# FlexVAR shares the blocks (its embeddings and head are re-learned for the other tokenizer). AiM: from scratch.
VAR_INIT="--init weights/glyphs-var.safetensors"
mkdir -p "$W"
stage() { echo "$(date +%s) $(date +%H:%M:%S) $*" >> "$W/stages.txt"; }
done_() { [ -f "$1/eval.json" ]; }
resume() { [ -f "$1/ckpt.pt" ] && echo --resume; }
stage "start data=$DATA"

[ -f "$W/vqvae/ckpt.pt" ] || python3 $T/export.py --unpack weights/glyphs-vqvae.safetensors --out "$W/vqvae/ckpt.pt"
done_ "$W/classifier" || python3 $E/train_classifier.py --data "$DATA" --out "$W/classifier" --minutes "$CLS_MIN" \
  --threads 2 $(resume "$W/classifier") > "$W/classifier.log" 2>&1
stage "classifier done"
done_ "$W/flexvqvae" || python3 $T/train_tokenizer.py --kind flexvqvae --zdim 16 --vocab 512 --ch 32 --ch_mult 1,2,2 \
  --res_blocks 1 --batch 32 --lr 2e-3 --warmup 50 --restart_every 100 --eval_every 150 --eval_n 256 \
  --data "$DATA" --out "$W/flexvqvae" --minutes "$FTOK_MIN" --threads 2 $(resume "$W/flexvqvae") > "$W/flexvqvae.log" 2>&1
stage "flexvqvae done"

for fam in $FAMS; do
  case $fam in
    flexvar)  tok=flexvqvae; min=$FLEX_MIN;  size="--depth 6 --width 256 --heads 4 --lr 1e-3 $VAR_INIT" ;;
    mvar)     tok=vqvae;     min=$MVAR_MIN;  size="--depth 6 --width 256 --heads 4 --lr 5e-4 $VAR_INIT"
              size="$size --extra {\"kernel_size\":5,\"refine_step\":5}" ;;
    mambavar) tok=vqvae;     min=$MAMBA_MIN; size="--depth 6 --width 256 --heads 4 --lr 1e-3 $VAR_INIT"
              size="$size --extra {\"attn_l2_norm\":true}" ;;
    aim)      tok=flexvqvae; min=$AIM_MIN;   size="--depth 8 --width 256 --lr 1e-3" ;;
  esac
  done_ "$W/$fam" && continue
  python3 $T/train_generator.py --family $fam --tokenizer "$W/$tok/ckpt.pt" --data "$DATA" --out "$W/$fam" \
    --minutes "$min" --batch 32 --warmup 50 --threads 2 --eval_every 600 --eval_n 128 $size $(resume "$W/$fam") \
    > "$W/$fam.log" 2>&1
  stage "$fam trained"
done
stage "all trained"
