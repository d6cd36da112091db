"""The README's FlexVAR editing sample, made with the release binary: a generated glyph, an in-painting mask and
the in-painted result, plus an out-painting (extend right) of the same glyph. Nearest-neighbour 4x, one PNG.

    python3 tools/eval/edit_sample.py --model glyphs-flexvar --out assets/edit-flexvar.png
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(binary, *args):
    subprocess.run([binary, *args], check=True, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='glyphs-flexvar')
    ap.add_argument('--binary', default=os.path.join(ROOT, '.build', 'release', 'scalewise'))
    ap.add_argument('--cases', default='A:R:3,g:y:5,E:B:1', help='CLASS:NEW_CLASS:SEED, comma-separated')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in a.cases.split(','):
            cls, new, seed = case.split(':')
            src, mask = os.path.join(tmp, f'{cls}.png'), os.path.join(tmp, 'mask.png')
            run(a.binary, 'generate', '-m', a.model, '--class', cls, '--seed', seed, '-o', src, '-q', '--force')
            img = np.asarray(Image.open(src).convert('RGB'))
            h, w = img.shape[:2]
            m = np.zeros((h, w, 3), np.uint8)
            m[h // 2:] = 255                      # regenerate the bottom half
            Image.fromarray(m).save(mask)
            same, other, ext = (os.path.join(tmp, f'{cls}-{k}.png') for k in ('same', 'other', 'ext'))
            run(a.binary, 'edit', '-m', a.model, '--class', cls, '--image', src, '--mask', mask, '--seed', '9',
                '-o', same, '--force')
            run(a.binary, 'edit', '-m', a.model, '--class', new, '--image', src, '--mask', mask, '--seed', '9',
                '-o', other, '--force')
            run(a.binary, 'edit', '-m', a.model, '--class', cls, '--image', src, '--extend', 'right', '--seed', '9',
                '-o', ext, '--force')
            tiles = [img, m // 2 + img // 2] + [np.asarray(Image.open(p).convert('RGB')) for p in (same, other)]
            e = np.asarray(Image.open(ext).convert('RGB'))
            gap = np.full((h, 2, 3), 255, np.uint8)
            row = []
            for t in tiles + [e]:
                row += [t, gap]
            rows.append(np.concatenate(row[:-1], axis=1))
            rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    grid = np.concatenate(rows[:-1], axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(a.out, optimize=True)
    print(a.out, grid.shape)


if __name__ == '__main__':
    main()
