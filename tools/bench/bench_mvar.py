"""The scale-wise families side by side: PyTorch (fp32 and bf16 autocast) vs `scalewise bench` (fp32, bf16, int8)
per family and latent side, then VAR vs M-VAR vs MVAR in our engine at equal width and depth (seconds per image,
peak memory, and the state each carries from scale to scale).

    python3 tools/bench/bench_mvar.py [--depth 16] [--threads 2] [--images 1] [--sides 16 32] \
        [--families var flexvar mambavar mvar] [--precisions fp32,bf16,int8] [--precision fp32] \
        [--official-flexvar /tmp/official/FlexVAR] [--no-torch]

For each latent side and each family, one after the other (one model in memory at a time), the script builds a
random-weight generator of depth --depth (official shapes and inits: C = 64*depth, heads = depth), rounds its
weights to float16 and saves them as F16 .safetensors in a scratch folder outside the repository, so that PyTorch
and our engine compute with the same numbers. It then times, in this one process, the PyTorch sampler in fp32 and
under `torch.autocast('cpu', dtype=torch.bfloat16)` (each split into transformer and decoder, the decoder being the
tokenizer call that turns the last scale into pixels), and runs `scalewise bench --precision P --json` on the same
files for each of --precisions. Every run draws one warm-up image, then --images timed ones, with the sampling
`scalewise bench` uses: class 0, cfg 4 (2 guidance rows), top-k 900, top-p 0.95 (MVAR: its family default 0.96),
the schedule stored in the file. One markdown table per latent side gives seconds, ratios to both PyTorch runs,
GFLOP/s and peak RSS of ours (PyTorch's are not measured: its runs share one process).

The PyTorch code per family (the sampling loop is each implementation's own `autoregressive_infer_cfg`):
  * VAR: tools/reference/var.py + vqvae.py, bit-identical to the official FoundationVision/VAR code (see
    tools/reference/README.md); bench_var.py times the official checkout itself.
  * FlexVAR: the official jiaosiyu1999/FlexVAR `models/` imported unmodified from --official-flexvar (tokenizer
    `VQ_models['VQ-16']`, sampler with the LlamaGen guidance of its inference_c2i.py), the weights loaded from our
    reference modules; without the flag, tools/reference/flexvar.py + flexvqvae.py (checked against it).
  * M-VAR: tools/reference/mambavar.py + mamba2.py (architecture-identical, official parameter names). The official
    code needs mamba_ssm's CUDA kernels, and its sampler re-runs Mamba over all earlier tokens at every scale; the
    reference carries each block's Mamba state from scale to scale, as our engine does.
  * MVAR: tools/reference/mvar.py (architecture-identical; windowed neighbourhood attention in PyTorch). The official
    code needs NATTEN's CUDA na2d kernel.

Families and files: VAR and MVAR share one set of weights (MVAR's file is the VAR file's tensors under family `mvar`,
official window 7 from scale index 8; its state between scales is f̂ alone, Cvae x side x side floats) over a random
vae_ch160v4096z32; M-VAR has Mamba2(d_state=64, headdim=64) blocks over the same tokenizer; FlexVAR has its own
tokenizer (the released VQ-16 shape: ch 128, (1,1,2,2,4), z 256, 8912 codes of 32), the official 32x32 position map
and max_pn 16 (larger steps are greedy, as in the official sampler). Schedules: 10 scales ending at the latent side
(16: VAR's 256 px list; 32: VAR's 512 px list 1,2,3,4,6,9,13,18,24,32).

State bytes are computed from the shapes: VAR's KV cache after scale k = 2 (K, V) x rows x tokens so far x C x depth
x 4 B; M-VAR's Mamba state = depth x rows x ((2C + 2N) x 3 + (2C/64) x 64 x N) x 4 B after every scale (N = 64);
rows = 2 with guidance. M-VAR's session also keeps that state once per completed scale, so stepping back is free.
"""
import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tools', 'reference'))
SCHEDULES = {16: (1, 2, 3, 4, 5, 6, 8, 10, 13, 16), 32: (1, 2, 3, 4, 6, 9, 13, 18, 24, 32)}
NAMES = {'var': 'VAR', 'flexvar': 'FlexVAR', 'mambavar': 'M-VAR', 'mvar': 'MVAR'}
# What `scalewise bench` samples with: its --cfg default and each family's top-k / top-p defaults.
LABEL, CFG, TOP_K = 0, 4.0, 900
TOP_P = {'var': 0.95, 'flexvar': 0.95, 'mambavar': 0.95, 'mvar': 0.96}
FLEX_POS_HW, FLEX_MAX_PN = 32, 16  # the official FlexVAR position map side and inference_c2i.py's maxpn


def save(module, path, meta):
    from safetensors.torch import save_file
    sd = {k: v.detach().half().contiguous() for k, v in module.state_dict().items()
          if v.dtype.is_floating_point and not k.endswith('attn_bias_for_masking')}
    save_file(sd, path, metadata=meta)


@torch.no_grad()
def round_to_f16_(module):
    """The weights PyTorch times are the ones the F16 file holds."""
    for v in module.state_dict().values():
        if v.dtype.is_floating_point:
            v.copy_(v.half().to(v.dtype))


def build_tokenizer(family, side, scratch):
    """VAR's multi-scale VQVAE (var, mambavar, mvar) or FlexVAR's VQ-16 for one latent side: (module, path)."""
    torch.manual_seed(0)
    if family == 'flexvar':
        from flexvqvae import FlexVQVAE
        vae, name, meta_family = FlexVQVAE(), f'flexvqvae_{side}.safetensors', 'flexvqvae'
    else:
        from vqvae import VQVAE
        vae, name, meta_family = VQVAE(v_patch_nums=SCHEDULES[side]), f'vae_{side}.safetensors', 'vqvae'
    vae.eval()
    round_to_f16_(vae)
    path = os.path.join(scratch, name)
    save(vae, path, {'family': meta_family, 'config': json.dumps(vae.config)})
    return vae, path


def build_generator(family, vae, vae_path, depth, side, scratch):
    """A random-weight generator over `vae`, saved for our engine: (module, path). VAR and MVAR get the same
    weights (same seed, same parameters)."""
    from flexvar import FlexVAR
    from mambavar import MambaVAR
    from mambavar import init_weights as init_mambavar
    from mvar import MVAR
    from var import VAR
    from var import init_weights as init_var
    common = dict(depth=depth, embed_dim=64 * depth, num_heads=depth, patch_nums=SCHEDULES[side], cond_drop_rate=0)
    torch.manual_seed(1)
    if family == 'mambavar':
        m = MambaVAR(vae, attn_l2_norm=False, **common)
        init_mambavar(m)
    elif family == 'flexvar':
        m = FlexVAR(vae, attn_l2_norm=True, pos_hw=FLEX_POS_HW, **common)
        init_var(m)
    else:
        m = {'var': VAR, 'mvar': MVAR}[family](vae, attn_l2_norm=True, **common)
        init_var(m)
    m.eval()
    round_to_f16_(m)
    config = dict(m.config, **({'max_pn': FLEX_MAX_PN} if family == 'flexvar' else {}))
    path = os.path.join(scratch, f'{family}_d{depth}_{side}.safetensors')
    save(m, path, {'family': family, 'config': json.dumps(config), 'tokenizer': os.path.basename(vae_path)})
    return m, path


def official_flexvar(checkout, vae, model, depth, side):
    """The official FlexVAR and its VQ-16 tokenizer, imported from a checkout and loaded with our modules' weights."""
    from compare_official_flex_mvar import import_official, stub_modules
    stub_modules()  # huggingface_hub, imported only for a mixin class
    vq_llama, flexvar = import_official(checkout, ['models.vq_llama', 'models.flexvar'])
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():  # parameter counts; a meshgrid warning
        warnings.simplefilter('ignore')
        ovq = vq_llama.VQ_models['VQ-16'](codebook_size=vae.V, codebook_embed_dim=vae.Cvae)
        om = flexvar.FlexVAR(ovq, depth=depth, embed_dim=64 * depth, num_heads=depth, attn_l2_norm=True,
                             cond_drop_rate=0.0, patch_nums=SCHEDULES[side], flash_if_available=False,
                             fused_if_available=False)
    ovq.load_state_dict(vae.state_dict(), strict=True)
    om.load_state_dict(model.state_dict(), strict=True)
    return ovq.eval(), om.eval()


def torch_sampler(family, vae, model, side, official=None):
    """(one(seed) drawing one image, (object, method) that decodes it) for the family's PyTorch sampler."""
    label, top_p = torch.tensor([LABEL]), TOP_P[family]
    if official is not None:  # FlexVAR's official code
        ovq, om = official
        pns = list(SCHEDULES[side])
        return (lambda seed: om.autoregressive_infer_cfg(ovq, 1, label, pns, g_seed=seed, cfg=CFG, top_k=TOP_K,
                                                         top_p=top_p, max_pn=FLEX_MAX_PN, used_llamagen_cfg=True),
                (ovq, 'decode_code'))
    if family == 'flexvar':
        return (lambda seed: model.autoregressive_infer_cfg(1, label, g_seed=seed, cfg=CFG, top_k=TOP_K, top_p=top_p,
                                                            max_pn=FLEX_MAX_PN, used_llamagen_cfg=True),
                (vae, 'idx_to_img'))
    return (lambda seed: model.autoregressive_infer_cfg(B=1, label_B=label, g_seed=seed, cfg=CFG, top_k=TOP_K,
                                                        top_p=top_p),
            (vae, 'fhat_to_img'))


def time_torch(sample, decoder, images, autocast=False):
    """Seconds per image (transformer, decoder) after one warm-up image; the decoder call is timed on its own."""
    obj, name = decoder
    orig = getattr(obj, name)
    decode_s = 0.0

    def timed(*a, **kw):
        nonlocal decode_s
        t = time.perf_counter()
        out = orig(*a, **kw)
        decode_s += time.perf_counter() - t
        return out

    def one(seed):
        # With random weights a sampler can draw from a row that top-k / top-p left without finite mass
        # (torch.multinomial: "probability tensor contains inf/nan"); such an image is retried with another seed.
        nonlocal decode_s
        for attempt in range(10):
            d0, t0 = decode_s, time.perf_counter()
            try:
                sample(seed + 1000 * attempt)
                return time.perf_counter() - t0
            except RuntimeError as e:
                decode_s, error = d0, e
        raise RuntimeError(f'the PyTorch sampler failed on 10 seeds: {error}')

    setattr(obj, name, timed)
    amp = torch.autocast('cpu', dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    try:
        with torch.inference_mode(), amp:
            one(0)
            decode_s = 0.0
            total_s = sum(one(i) for i in range(1, images + 1))
    finally:
        delattr(obj, name)  # back to the class's method
    return (total_s - decode_s) / images, decode_s / images


def run_ours(binary, path, threads, images, precision):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([binary, 'bench', '--model', path, '--threads', str(threads), '--images', str(images),
                          '--precision', precision, '--json'], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def state_bytes(depth, pn, rows=2, N=64):
    C, L = 64 * depth, 0
    kv = []
    for p in pn:
        L += p * p
        kv.append(2 * rows * L * C * depth * 4)
    mamba = depth * rows * ((2 * C + 2 * N) * 3 + (2 * C // 64) * 64 * N) * 4
    return kv, mamba


def print_side_table(side, depth, families, torch_runs, ours, code):
    print(f'\n### {side}x{side} latent ({16 * side} px), depth {depth}\n')
    print('| family | run | transformer s | decoder s | total s | vs PyTorch fp32 | vs PyTorch bf16 autocast | '
          'GFLOP/s | peak RSS MiB |')
    print('|---|---|---|---|---|---|---|---|---|')
    for family in families:
        runs = torch_runs.get((family, side), {})
        t32 = sum(runs['fp32']) if 'fp32' in runs else None
        tbf = sum(runs['bf16 autocast']) if 'bf16 autocast' in runs else None

        def ratios(tot):
            return ' | '.join(f'{t / tot:.2f}x' if t else '-' for t in (t32, tbf))
        for name, (tr, dec) in runs.items():
            print(f'| {NAMES[family]} | PyTorch {name} ({code[family]}) | {tr:.2f} | {dec:.2f} | {tr + dec:.2f} | '
                  f'{ratios(tr + dec)} | | |')
        for p, o in ours.get((family, side), {}).items():
            tot = o['transformer_s'] + o['decode_s']
            print(f'| {NAMES[family]} | Scalewise {p} | {o["transformer_s"]:.2f} | {o["decode_s"]:.2f} | {tot:.2f} | '
                  f'{ratios(tot)} | {o["gflops_per_s"]:.0f} | {o["peak_rss_mb"]:.0f} |')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--depth', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--images', type=int, default=1)
    ap.add_argument('--sides', type=int, nargs='+', default=[16, 32], choices=sorted(SCHEDULES))
    ap.add_argument('--families', nargs='+', default=['var', 'flexvar', 'mambavar', 'mvar'], choices=list(NAMES))
    ap.add_argument('--precisions', default='fp32,bf16,int8', help='our runs, comma-separated')
    ap.add_argument('--precision', default='fp32',
                    help='the precision of ours that the VAR vs M-VAR vs MVAR table compares (run if not listed)')
    ap.add_argument('--official-flexvar', default=None, help='path to a jiaosiyu1999/FlexVAR checkout')
    ap.add_argument('--no-torch', action='store_true', help='skip the PyTorch runs (our engine only)')
    ap.add_argument('--scratch', default='/tmp/scalewise-bench-mvar')
    ap.add_argument('--binary', default=os.path.join(ROOT, '.build', 'release', 'scalewise'))
    args = ap.parse_args()
    os.makedirs(args.scratch, exist_ok=True)
    torch.set_num_threads(args.threads)
    precisions = args.precisions.split(',')
    if args.precision not in precisions:
        precisions.append(args.precision)
    code = {'var': 'reference', 'flexvar': 'official' if args.official_flexvar else 'reference',
            'mambavar': 'reference', 'mvar': 'reference'}
    torch_runs, ours, results = {}, {}, {}
    for side in args.sides:
        tokenizers = {}
        for family in args.families:
            kind = 'flexvar' if family == 'flexvar' else 'var'
            if kind not in tokenizers:
                tokenizers[kind] = build_tokenizer(family, side, args.scratch)
            vae, vae_path = tokenizers[kind]
            model, path = build_generator(family, vae, vae_path, args.depth, side, args.scratch)
            os.sync()  # no writeback of the fresh files during the timed runs
            if not args.no_torch:
                official = None
                if family == 'flexvar' and args.official_flexvar:
                    official = official_flexvar(args.official_flexvar, vae, model, args.depth, side)
                    del model
                    model = None
                sample, decoder = torch_sampler(family, vae, model, side, official)
                runs = torch_runs[(family, side)] = {}
                for name, autocast in (('fp32', False), ('bf16 autocast', True)):
                    runs[name] = time_torch(sample, decoder, args.images, autocast)
                    print(f'{NAMES[family]:8s} d{args.depth} {16 * side} px PyTorch {name} ({code[family]}): '
                          f'transformer {runs[name][0]:.2f} s, decode {runs[name][1]:.2f} s', flush=True)
                del sample, decoder, official
            del model  # our run should not share the machine's memory with PyTorch's copy of the model
            gc.collect()
            ours[(family, side)] = {}
            for p in precisions:
                r = ours[(family, side)][p] = run_ours(args.binary, path, args.threads, args.images, p)
                print(f'{NAMES[family]:8s} d{args.depth} {16 * side} px Scalewise {p}: transformer '
                      f'{r["transformer_s"]:.2f} s, decode {r["decode_s"]:.2f} s, {r["transformer_gflop"]:.0f} GFLOP '
                      f'at {r["gflops_per_s"]:.0f} GFLOP/s, peak RSS {r["peak_rss_mb"]:.0f} MB', flush=True)
            results[(family, side)] = ours[(family, side)][args.precision]
        del tokenizers
        gc.collect()

    first = next(iter(next(iter(ours.values())).values()))
    versus = '' if args.no_torch else f'PyTorch {torch.__version__} vs '
    print(f'\n{versus}Scalewise ({first.get("cpu_isa", "?")}, OpenBLAS {first.get("blas_kernels", "?")}), '
          f'{args.threads} threads, class {LABEL}, cfg {CFG:g} (VAR/M-VAR/MVAR: ramp; FlexVAR: LlamaGen constant), '
          f'top-k {TOP_K}, top-p ' + ', '.join(f'{TOP_P[f]} ({NAMES[f]})' for f in args.families)
          + f'; {args.images} image(s) after a warm-up.')
    if not args.no_torch:
        print('PyTorch code: VAR tools/reference/var.py (bit-identical to the official code); FlexVAR '
              + (f'official models/ from {args.official_flexvar}' if args.official_flexvar
                 else 'tools/reference/flexvar.py')
              + '; M-VAR tools/reference/mambavar.py and MVAR tools/reference/mvar.py, architecture-identical to the '
              'official code, which needs CUDA kernels (mamba_ssm, NATTEN).')
    for side in args.sides:
        print_side_table(side, args.depth, args.families, torch_runs, ours, code)

    others = [f for f in args.families if f != 'flexvar']
    if not others:
        return
    print(f'\n| latent | model (d{args.depth}) | transformer s | / VAR | transformer GFLOP | decode s | peak RSS MB |')
    print('|---|---|---|---|---|---|---|')
    for side in args.sides:
        base = results.get(('var', side))
        for family in others:
            r = results[(family, side)]
            rel = f'{r["transformer_s"] / base["transformer_s"]:.2f}' if base else '-'
            print(f'| {side}x{side} | {NAMES[family]} | {r["transformer_s"]:.2f} | {rel} | '
                  f'{r["transformer_gflop"]:.0f} | {r["decode_s"]:.2f} | {r["peak_rss_mb"]:.0f} |')
    for side in args.sides:
        kv, mamba = state_bytes(args.depth, SCHEDULES[side])
        fhat = 32 * side * side * 4
        print(f'\nstate after each scale, {side}x{side}, 2 rows (MB): VAR KV cache '
              + ' '.join(f'{b / 2**20:.1f}' for b in kv) + f'; M-VAR Mamba state {mamba / 2**20:.1f} every scale'
              + f'; MVAR f_hat {fhat / 2**20:.3f} every scale')


if __name__ == '__main__':
    main()
