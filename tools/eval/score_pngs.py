"""Score images that the Swift engine generated, with the glyph classifier: accuracy on the requested class and the
Frechet distance against held-out real glyphs, as evaluate.py reports for the PyTorch samplers. For settings whose
PyTorch sampler is too slow on the CPU (FlexVAR beyond its training size: > 5 min and 11 GB for 1,240 images):

    python3 tools/eval/score_pngs.py --model glyphs-flexvar --steps 13 --n 20 --data /work/data/fonts64.npz \
        --classifier /work/data/cpu64/classifier/ckpt.pt --out /work/data/eval-flexvar-13.json

Runs `scalewise generate --count N` per class (seeds S..S+N-1, `--seed S`, default 0; the model's default
cfg/top-k/top-p; `--precision fp32|bf16|int8|auto`, default the engine's), reads the PNGs back and resizes them
(box filter) to the classifier's input size when they differ.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, '..', 'train'))
sys.path.insert(0, HERE)
import common  # noqa: E402
import evaluate  # noqa: E402
import train_classifier  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--steps', type=int)
    p.add_argument('--cfg', type=float)
    p.add_argument('--n', type=int, default=20)
    p.add_argument('--seed', type=int, default=0, help='first seed of every class (seeds seed..seed+n-1)')
    p.add_argument('--precision', help='engine precision: fp32, bf16, int8 or auto (default: the engine\'s)')
    p.add_argument('--data', required=True)
    p.add_argument('--classifier', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--threads', type=int, default=0, help='threads for the engine (0 = its default: one for a small model, else all cores)')
    p.add_argument('--binary', default=os.path.join(ROOT, '.build', 'release', 'scalewise'))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net, _ = train_classifier.load(args.classifier, 'cpu')
    test = common.Glyphs(args.data, 'test', 'cpu', 0)
    side = test.images.shape[-1]
    classes = subprocess.run([args.binary, 'classes', '-m', args.model], check=True, capture_output=True,
                             text=True).stdout.split('\n')
    classes = [c.split()[-1] for c in classes if c.strip()]
    assert len(classes) > 1, f'no classes listed for {args.model}'
    imgs, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for ci, name in enumerate(classes):
            cmd = [args.binary, 'generate', '-m', args.model, '--class', str(ci), '--count', str(args.n), '--seed', str(args.seed),
                   '-o', os.path.join(tmp, f'c{ci}.png')]
            if args.steps:
                cmd += ['--steps', str(args.steps)]
            if args.threads:
                cmd += ['--threads', str(args.threads)]
            if args.cfg is not None:
                cmd += ['--cfg', str(args.cfg)]
            if args.precision:
                cmd += ['--precision', args.precision]
            subprocess.run(cmd, check=True, capture_output=True)
            files = sorted(f for f in os.listdir(tmp) if f.startswith(f'c{ci}.') or f.startswith(f'c{ci}-'))
            assert len(files) == args.n, (name, files)
            for f in files:
                a = np.asarray(Image.open(os.path.join(tmp, f)).convert('L'), dtype=np.float32) / 255
                imgs.append(torch.from_numpy(a))
                labels.append(ci)
                os.remove(os.path.join(tmp, f))
    x = torch.stack(imgs)[:, None]
    gen_side = x.shape[-1]
    if gen_side != side:
        x = F.interpolate(x, size=(side, side), mode='area' if gen_side > side else 'bilinear', align_corners=None if gen_side > side else False)
    labels = torch.tensor(labels)
    pred, feat = evaluate.classify(net, x)
    real = torch.cat([test.batch(torch.arange(i, min(i + 1024, test.n)))[0] for i in range(0, test.n, 1024)])
    _, real_feat = evaluate.classify(net, (real + 1) / 2)
    fd = evaluate.frechet(*evaluate.stats(feat), *evaluate.stats(real_feat))
    res = dict(model=args.model, steps=args.steps, cfg=args.cfg, precision=args.precision, seed=args.seed,
               n=int(labels.numel()), generated_px=gen_side,
               classifier_px=side, acc=round((pred == labels).float().mean().item(), 4), fd=round(fd, 3))
    print(json.dumps(res))
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
