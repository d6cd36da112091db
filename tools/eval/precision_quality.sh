#!/bin/sh
# Quality of every shipped generator in each engine precision: the glyph classifier's accuracy and the Frechet
# distance (FD) of 20 samples per class (1,240 images, the model's default sampling) in fp32, bf16 and int8, plus a
# second fp32 run on disjoint seeds (20-39) that shows the run-to-run spread. Prints the README's table.
#
#   tools/eval/precision_quality.sh DIR [MODEL ...]
#
# DIR holds the data, classifiers and scores (made when missing, reused when present): fonts64.npz and fonts32.npz
# (tools/data/build_glyphs.py, ~3 min), cls32/ (tools/eval/train_classifier.py, CLS_MIN minutes, default 12),
# scores/MODEL-PRECISION-sSEED.json (tools/eval/score_pngs.py). MODEL defaults to all seven files in weights/.
# One 32-px classifier scores every model: 64-px samples are 2x2 box-averaged to 32 px, the same transform that
# makes fonts32.npz from fonts64.npz. With CLS64=1 a 64-px classifier (cls64/) scores the 64-px models instead.
# Environment: THREADS (engine threads, default 1), N (samples per class, default 20), PRECISIONS (default
# "fp32 bf16 int8"). Run from the repository root; builds .build/release/scalewise when it is missing.
set -eu
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
DIR=$1; shift
MODELS=${*:-glyphs64-var glyphs64-flexvar glyphs-var glyphs-flexvar glyphs-mvar glyphs-mambavar glyphs-aim}
THREADS=${THREADS:-1}
N=${N:-20}
PRECISIONS=${PRECISIONS:-fp32 bf16 int8}
BIN=.build/release/scalewise
mkdir -p "$DIR/scores"

[ -x "$BIN" ] || swift build -c release
[ -f "$DIR/fonts64.npz" ] || python3 tools/data/build_glyphs.py --out "$DIR/fonts64.npz" --work "$DIR/glyphs-work" \
    --procs 2
[ -f "$DIR/fonts32.npz" ] || python3 -c "
import numpy as np, sys
d = np.load(sys.argv[1])
np.savez(sys.argv[2], **{k: (d[k].reshape(-1, 32, 2, 32, 2).mean((2, 4)).round().astype('uint8')
                            if k.endswith('_images') else d[k]) for k in d.files})" "$DIR/fonts64.npz" "$DIR/fonts32.npz"
[ -f "$DIR/cls32/eval.json" ] || python3 tools/eval/train_classifier.py --data "$DIR/fonts32.npz" --out "$DIR/cls32" \
    --minutes "${CLS_MIN:-12}" --threads 2
[ "${CLS64:-0}" = 0 ] || [ -f "$DIR/cls64/eval.json" ] || python3 tools/eval/train_classifier.py \
    --data "$DIR/fonts64.npz" --out "$DIR/cls64" --minutes "${CLS_MIN:-12}" --threads 2

score() {  # model precision first-seed
    out="$DIR/scores/$1-$2-s$3.json"
    [ -f "$out" ] && return 0
    px=32
    case $1 in glyphs64-*) [ "${CLS64:-0}" = 0 ] || px=64 ;; esac
    start=$(date +%s)
    python3 tools/eval/score_pngs.py --model "weights/$1.safetensors" --precision "$2" --seed "$3" --n "$N" \
        --threads "$THREADS" --data "$DIR/fonts$px.npz" --classifier "$DIR/cls$px/ckpt.pt" --out "$out.tmp" > /dev/null
    python3 -c "import json, sys; r = json.load(open(sys.argv[1])); r['seconds'] = int(sys.argv[2])
json.dump(r, open(sys.argv[1], 'w'), indent=1)" "$out.tmp" "$(( $(date +%s) - start ))"
    mv "$out.tmp" "$out"
    echo "$1 $2 seeds $3..$(( $3 + N - 1 )): $(cat "$out" | tr -d '\n ')"
}

for m in $MODELS; do
    score "$m" fp32 0
    for p in $PRECISIONS; do [ "$p" = fp32 ] || score "$m" "$p" 0; done
    score "$m" fp32 "$N"
done

python3 - "$DIR/scores" "$N" $MODELS <<'EOF'
import json, os, sys
d, n, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def get(m, p, s):
    f = os.path.join(d, f'{m}-{p}-s{s}.json')
    return json.load(open(f)) if os.path.exists(f) else None
def cell(r):
    return f"{100 * r['acc']:.1f} % | {r['fd']:.1f}" if r else '– | –'
def delta(a, b, c):  # bf16 or int8 against fp32, with the fp32 run-to-run difference
    if not (a and b and c):
        return '–'
    return (f"{100 * (b['acc'] - a['acc']):+.1f} pt, FD {b['fd'] - a['fd']:+.2f} "
            f"(fp32 runs: {100 * abs(c['acc'] - a['acc']):.1f} pt, {abs(c['fd'] - a['fd']):.2f})")
print(f'| model | fp32 | FD | fp32, seeds {n}–{2 * n - 1} | FD | bf16 | FD | int8 | FD | bf16 − fp32 |')
print('|---|---|---|---|---|---|---|---|---|---|')
for m in models:
    r = {k: get(m, *k) for k in [('fp32', 0), ('fp32', n), ('bf16', 0), ('int8', 0)]}
    print(f'| `{m}` | ' + ' | '.join(cell(v) for v in r.values())
          + f" | {delta(r['fp32', 0], r['bf16', 0], r['fp32', n])} |")
EOF
