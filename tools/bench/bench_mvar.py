"""VAR vs M-VAR vs MVAR in our engine at equal width and depth: seconds per image at 16x16 and 32x32 latents,
peak memory, and the state each carries from scale to scale.

    python3 tools/bench/bench_mvar.py [--depth 16] [--threads 2] [--images 1] [--sides 16 32] \
        [--families var mambavar mvar]

MVAR has VAR's parameter layout: its file is the VAR file's tensors under family `mvar` (official window 7 from
scale index 8). Its state between scales is f̂ alone (Cvae x side x side floats).

Builds random-weight VAR-d{depth} and M-VAR-d{depth} (official shapes and inits: C = 64*depth, heads = depth,
M-VAR's Mamba2(d_state=64, headdim=64)) over a random vae_ch160v4096z32 with the 10-scale schedule ending at the
latent side (16: VAR's 256 px list; 32: VAR's 512 px list 1,2,3,4,6,9,13,18,24,32), saves them as F16
.safetensors in a scratch folder outside the repository, and runs `scalewise bench --json` on each (one
warm-up image, then --images timed ones; cfg 4, top-k 900, top-p 0.95, fp32 compute). State bytes are computed
from the shapes: VAR's KV cache after scale k = 2 (K, V) x rows x tokens so far x C x depth x 4 B; M-VAR's
Mamba state = depth x rows x ((2C + 2N) x 3 + (2C/64) x 64 x N) x 4 B after every scale (N = 64); rows = 2
with guidance. M-VAR's session also keeps that state once per completed scale, so stepping back is free.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tools', 'reference'))
SCHEDULES = {16: (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), 32: (1, 2, 3, 4, 6, 9, 13, 18, 24, 32)}


def save(module, path, meta):
    from safetensors.torch import save_file
    sd = {k: v.detach().half().contiguous() for k, v in module.state_dict().items()
          if v.dtype.is_floating_point and not k.endswith('attn_bias_for_masking')}
    save_file(sd, path, metadata=meta)


def build(depth, side, scratch, families):
    """Writes the tokenizer, VAR and M-VAR files for one latent side; returns their paths."""
    from mambavar import MambaVAR
    from mambavar import init_weights as init_mvar
    from var import VAR
    from var import init_weights as init_var
    from vqvae import VQVAE
    pn = SCHEDULES[side]
    torch.manual_seed(0)
    vae = VQVAE(v_patch_nums=pn)
    vae_path = os.path.join(scratch, f'vae_{side}.safetensors')
    save(vae, vae_path, {'family': 'vqvae', 'config': json.dumps(vae.config)})
    paths = {}
    common = dict(depth=depth, embed_dim=64 * depth, num_heads=depth, patch_nums=pn, cond_drop_rate=0)
    for family, make, init in (('var', VAR, init_var), ('mambavar', MambaVAR, init_mvar)):
        if family not in families and not (family == 'var' and 'mvar' in families):
            continue
        m = make(vae, attn_l2_norm=family == 'var', **common)
        init(m)
        for fam in [family] + (['mvar'] if family == 'var' else []):
            if fam not in families:
                continue
            path = os.path.join(scratch, f'{fam}_d{depth}_{side}.safetensors')
            cfg = dict(m.config, **({'kernel_size': 7, 'refine_step': 8} if fam == 'mvar' else {}))
            save(m, path, {'family': fam, 'config': json.dumps(cfg), 'tokenizer': os.path.basename(vae_path)})
            paths[fam] = path
        del m
    return paths


def state_bytes(depth, pn, rows=2, N=64):
    C, L = 64 * depth, 0
    kv = []
    for p in pn:
        L += p * p
        kv.append(2 * rows * L * C * depth * 4)
    mamba = depth * rows * ((2 * C + 2 * N) * 3 + (2 * C // 64) * 64 * N) * 4
    return kv, mamba


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--depth', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--images', type=int, default=1)
    ap.add_argument('--sides', type=int, nargs='+', default=[16, 32])
    ap.add_argument('--families', nargs='+', default=['var', 'mambavar', 'mvar'])
    ap.add_argument('--precision', default='fp32', help='auto, fp32, bf16 or int8 (the tables: fp32)')
    ap.add_argument('--scratch', default='/tmp/scalewise-bench-mvar')
    ap.add_argument('--binary', default=os.path.join(ROOT, '.build', 'release', 'scalewise'))
    args = ap.parse_args()
    os.makedirs(args.scratch, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
    results = {}
    names = {'var': 'VAR', 'mambavar': 'M-VAR', 'mvar': 'MVAR'}
    for side in args.sides:
        paths = build(args.depth, side, args.scratch, args.families)
        for family in args.families:
            out = subprocess.run([args.binary, 'bench', '--model', paths[family], '--threads', str(args.threads),
                                  '--images', str(args.images), '--precision', args.precision, '--json'], env=env, check=True, capture_output=True,
                                 text=True)
            results[(family, side)] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f'{family:9s} d{args.depth} {16 * side} px: transformer {r["transformer_s"]:.2f} s, decode '
                  f'{r["decode_s"]:.2f} s, {r["transformer_gflop"]:.0f} GFLOP at {r["gflops_per_s"]:.0f} GFLOP/s, '
                  f'peak RSS {r["peak_rss_mb"]:.0f} MB', flush=True)
    print(f'\n| latent | model (d{args.depth}) | transformer s | / VAR | transformer GFLOP | decode s | peak RSS MB |')
    print('|---|---|---|---|---|---|---|')
    for side in args.sides:
        base = results.get(('var', side))
        for family in args.families:
            r = results[(family, side)]
            rel = f'{r["transformer_s"] / base["transformer_s"]:.2f}' if base else '-'
            print(f'| {side}x{side} | {names[family]} | {r["transformer_s"]:.2f} | {rel} | '
                  f'{r["transformer_gflop"]:.0f} | {r["decode_s"]:.2f} | {r["peak_rss_mb"]:.0f} |')
    for side in args.sides:
        kv, mamba = state_bytes(args.depth, SCHEDULES[side])
        fhat = 32 * side * side * 4
        print(f'\nstate after each scale, {side}x{side}, 2 rows (MB): VAR KV cache '
              + ' '.join(f'{b / 2**20:.1f}' for b in kv) + f'; M-VAR Mamba state {mamba / 2**20:.1f} every scale'
              + f'; MVAR f_hat {fhat / 2**20:.3f} every scale')


if __name__ == '__main__':
    main()
