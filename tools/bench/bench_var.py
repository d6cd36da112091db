"""Seconds per 256 px image: the PyTorch VAR code vs `scalewise bench`, same random weights, same threads, one run.

    python3 tools/bench/bench_var.py [--depth 16] [--threads 2] [--official /tmp/official/VAR] [--images 1]
                                     [--precisions fp32,bf16,int8]

Builds a random-weight VAR-d{depth} + vae_ch160v4096z32 (official shapes), saves them as .safetensors in a
scratch folder, times the official `autoregressive_infer_cfg` (from a checkout of FoundationVision/VAR given by
--official, else our architecture-identical reference in tools/reference) in fp32 and under
`torch.autocast('cpu', dtype=torch.bfloat16)`, each split into transformer and decoder, then runs
`scalewise bench --precision P` on the same files for each precision and prints one table (seconds, ratios
to both PyTorch runs, GFLOP/s, peak RSS) and a per-scale table of ours.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(depth, official):
    if official:
        sys.path.insert(0, official)
        from models import build_vae_var
        import torch.nn as nn
        # build_vae_var switches PyTorch's default initialisation off (its VAE is meant to be loaded from a
        # checkpoint), which leaves the VAE's convs as uninitialised memory: values up to 1e38, inf and NaN
        # (seen in the saved files), so the official sampler failed on NaN logits in 2 of 3 runs and both
        # decoders timed garbage arithmetic. Restore the defaults and initialise the VAE as PyTorch would.
        classes = (nn.Linear, nn.LayerNorm, nn.BatchNorm2d, nn.SyncBatchNorm, nn.Conv1d, nn.Conv2d,
                   nn.ConvTranspose1d, nn.ConvTranspose2d)
        saved = {clz: clz.reset_parameters for clz in classes}
        vae, var = build_vae_var(V=4096, Cvae=32, ch=160, share_quant_resi=4, device='cpu',
                                 patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), num_classes=1000, depth=depth,
                                 shared_aln=False, attn_l2_norm=True, flash_if_available=False,
                                 fused_if_available=False, init_adaln=0.5, init_adaln_gamma=1e-5, init_head=0.02,
                                 init_std=-1)
        for clz, f in saved.items():
            clz.reset_parameters = f
        for m in vae.modules():
            if isinstance(m, classes):
                m.reset_parameters()
        bad = [k for k, v in vae.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
        assert not bad, f'non-finite VAE tensors after initialisation: {bad[:3]}'
        return vae, var, 'official'
    sys.path.insert(0, os.path.join(ROOT, 'tools', 'reference'))
    from var import VAR, init_weights
    from vqvae import VQVAE
    vae = VQVAE()
    var = VAR(vae, depth=depth, embed_dim=64 * depth, num_heads=depth, cond_drop_rate=0)
    init_weights(var)
    return vae, var, 'reference'


def save(module, path, meta):
    from safetensors.torch import save_file
    sd = {k: v.contiguous() for k, v in module.state_dict().items() if v.dtype.is_floating_point}
    save_file(sd, path, metadata=meta)


def time_torch(vae, var, images, cfg, top_k, top_p, autocast=False):
    decode_s, total_s = 0.0, 0.0
    orig = vae.fhat_to_img

    def timed(f_hat):
        nonlocal decode_s
        t = time.perf_counter()
        out = orig(f_hat)
        decode_s += time.perf_counter() - t
        return out

    vae.fhat_to_img = timed

    def one(seed):
        # With random weights the official sampler sometimes draws from an all-masked row (torch.multinomial:
        # "probability tensor contains inf/nan"); such an image is retried with another seed, untimed.
        nonlocal decode_s
        for attempt in range(10):
            d0, t0 = decode_s, time.perf_counter()
            try:
                var.autoregressive_infer_cfg(B=1, label_B=torch.tensor([207]), cfg=cfg, top_k=top_k, top_p=top_p,
                                             g_seed=seed + 1000 * attempt)
                return time.perf_counter() - t0
            except RuntimeError:
                decode_s = d0
        raise RuntimeError('the official sampler failed on 10 seeds')

    import contextlib
    amp = torch.autocast('cpu', dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        one(0)
        decode_s = 0.0
        total_s = sum(one(i) for i in range(images))
    return (total_s - decode_s) / images, decode_s / images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--depth', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--images', type=int, default=1)
    ap.add_argument('--official', default=None, help='path to a FoundationVision/VAR checkout')
    ap.add_argument('--scratch', default='/tmp/scalewise-bench')
    ap.add_argument('--precisions', default='fp32,bf16,int8')
    ap.add_argument('--binary', default=os.path.join(ROOT, '.build', 'release', 'scalewise'))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.scratch, exist_ok=True)
    vae, var, which = build(args.depth, args.official)
    vae.eval(), var.eval()
    vae_path = os.path.join(args.scratch, 'vae_ch160v4096z32.safetensors')
    var_path = os.path.join(args.scratch, f'var_d{args.depth}.safetensors')
    save(vae, vae_path, {'family': 'vqvae'})
    save(var, var_path, {'family': 'var', 'tokenizer': os.path.basename(vae_path)})
    os.sync()  # no writeback of the fresh files during the timed runs
    cfg, top_k, top_p = 4.0, 900, 0.95
    official = {'fp32': time_torch(vae, var, args.images, cfg, top_k, top_p),
                'bf16 autocast': time_torch(vae, var, args.images, cfg, top_k, top_p, autocast=True)}
    del vae, var  # our run should not share the machine's memory with PyTorch's copy of the model
    import gc
    gc.collect()
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
    ours = {}
    for p in args.precisions.split(','):
        out = subprocess.run([args.binary, 'bench', '--model', var_path, '--threads', str(args.threads),
                              '--images', str(args.images), '--precision', p, '--json'],
                             env=env, check=True, capture_output=True, text=True)
        ours[p] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f'VAR-d{args.depth} 256px, cfg {cfg}, top-k {top_k}, top-p {top_p}, {args.threads} threads, {args.images} '
          f'image(s) after a warm-up; PyTorch {torch.__version__} ({which} code); oneDNN ISA '
          f'{next(iter(ours.values())).get("cpu_isa", "?")}')
    t32 = sum(official['fp32'])
    tbf = sum(official['bf16 autocast'])
    print()
    print(f'| run | transformer s | decoder s | total s | vs official fp32 | vs official bf16 autocast | GFLOP/s | peak RSS MiB |')
    print('|---|---|---|---|---|---|---|---|')
    for name, (tr, dec) in official.items():
        print(f'| official {name} | {tr:.2f} | {dec:.2f} | {tr + dec:.2f} | {t32 / (tr + dec):.2f}x | {tbf / (tr + dec):.2f}x | | |')
    for p, o in ours.items():
        tot = o['transformer_s'] + o['decode_s']
        print(f'| Scalewise {p} | {o["transformer_s"]:.2f} | {o["decode_s"]:.2f} | {tot:.2f} | {t32 / tot:.2f}x | '
              f'{tbf / tot:.2f}x | {o["gflops_per_s"]:.0f} | {o["peak_rss_mb"]:.0f} |')
    print()
    ps = list(ours)
    print('| scale | ' + ' | '.join(f'{p} ms' for p in ps) + ' |')
    print('|---|' + '---|' * len(ps))
    sides = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
    for k in range(len(next(iter(ours.values()))['per_scale_ms'])):
        print(f'| {k + 1} ({sides[k]}x{sides[k]}) | ' + ' | '.join(f'{ours[p]["per_scale_ms"][k]:.1f}' for p in ps) + ' |')
    first6 = {p: sum(ours[p]['per_scale_ms'][:6]) for p in ps}
    print()
    print('scales 1-6: ' + ', '.join(f'{p} {v:.0f} ms' for p, v in first6.items()))
    for p, o in ours.items():
        print(f'{p}: {o.get("precision_reason", "")}; OpenBLAS {o.get("blas_kernels", "?")}, sgemm ceiling '
              f'{o.get("sgemm_ceiling_gflops", 0):.0f} GFLOP/s; loaded {o.get("loaded_rss_mb", 0):.0f} MiB')


if __name__ == '__main__':
    main()
