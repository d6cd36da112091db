"""Export a training checkpoint to a Scalewise weight file (tools/FORMAT.md), or slim it for transport.

    python3 tools/train/export.py --ckpt runs/vqvae/ckpt.pt --data devrun/fonts64.npz \
        --out weights/fonts64-vqvae.safetensors
    python3 tools/train/export.py --ckpt runs/var/ckpt.pt --tokenizer-file fonts64-vqvae.safetensors \
        --defaults '{"cfg": 3, "top_k": 50, "top_p": 0.95}' --out weights/fonts64-var.safetensors
    python3 tools/train/export.py --slim runs/var/ckpt.pt --out var.pt   # weights only, bf16 (no optimizer)
    python3 tools/train/export.py --retag weights/fonts64-var.safetensors --extra-meta '{"defaults": {"cfg": 2}}'
    python3 tools/train/export.py --unpack weights/glyphs-vqvae.safetensors --out runs/vqvae/ckpt.pt  # back to a ckpt

Tensor names are the reference classes' state_dict names. Generators: every nn.Linear weight with >= 4096 elements
is stored I8 with a per-row F32 `.qscale` (symmetric, q in [-127, 127]); other tensors with >= 65536 elements F16,
the rest F32. Tokenizers: tensors with >= 4096 elements F16, the rest F32 (no int8: it costs reconstruction PSNR).
Buffers that inference ignores are left out. Tokenizers get a `preview` map: least squares from the latent vector
(VAR: accumulated f_hat after every scale; Flex: the l2-normalised code vector of every scale) to the decoder's
output averaged over the latent cell's pixel block.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

import common
import tok_train

SKIP = ('attn_bias_for_masking', 'lvl_1L', 'zero_k_bias', 'ema_vocab_hit_SV', 'codebook_used')


def git_commit():
    try:
        c = subprocess.check_output(['git', '-C', common.REPO, 'rev-parse', 'HEAD'], text=True).strip()
        dirty = subprocess.call(['git', '-C', common.REPO, 'diff', '--quiet', 'HEAD', '--', 'tools'])
        return c + ('+dirty' if dirty else '')
    except Exception:
        return 'unknown'


def quantize_rowwise(w):
    w2 = w.float().reshape(w.shape[0], -1)
    scale = w2.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(w2 / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def linear_weight_names(model):
    return {f'{n}.weight' for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def pack(state, int8_names=()):
    out = {}
    for k, v in state.items():
        if k.split('.')[-1] in SKIP or not torch.is_floating_point(v):
            continue
        v = v.detach().cpu()
        if k in int8_names and v.ndim >= 2 and v.numel() >= 4096:
            q, s = quantize_rowwise(v)
            out[k], out[k + '.qscale'] = q.contiguous(), s.contiguous()
        elif v.numel() >= (4096 if not int8_names else 65536):
            out[k] = v.to(torch.float16).contiguous()
        else:
            out[k] = v.float().contiguous()
    return out


def dequantize(tensors):
    """Inverse of pack (for checks and for loading an exported file back into a reference class)."""
    out = {}
    for k, v in tensors.items():
        if k.endswith('.qscale'):
            continue
        if v.dtype == torch.int8:
            s = tensors[k + '.qscale']
            out[k] = (v.float().reshape(v.shape[0], -1) * s[:, None]).reshape(v.shape)
        else:
            out[k] = v.float()
    return out


@torch.no_grad()
def fit_preview(tok, data_path, n=256):
    """Least-squares [Cvae -> RGB] map, as FORMAT.md's `preview`: [[w_r...], [w_g...], [w_b...], [b_r, b_g, b_b]]."""
    test = common.Glyphs(data_path, 'test', 'cpu', n)
    x, _ = test.batch(torch.arange(test.n))
    lat, rgb = tok.latents_and_decodes(x)       # lists of [B,C,h,w] latents and [B,3,4h,4w] decodes in [-1,1]
    A, Y = [], []
    for z, img in zip(lat, rgb):
        h = z.shape[-1]
        cell = F.adaptive_avg_pool2d((img.clamp(-1, 1) + 1) / 2, h)     # average over each latent cell's block
        A.append(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]))
        Y.append(cell.permute(0, 2, 3, 1).reshape(-1, 3))
    A, Y = torch.cat(A).double(), torch.cat(Y).double()
    A1 = torch.cat([A, torch.ones(A.shape[0], 1, dtype=A.dtype)], 1)
    sol = torch.linalg.lstsq(A1, Y).solution           # [C+1, 3]
    res = (A1 @ sol - Y).square().mean().sqrt().item()
    W, b = sol[:-1].T, sol[-1]
    return [[round(v, 6) for v in row] for row in W.tolist()] + [[round(v, 6) for v in b.tolist()]], res


def export(args):
    ck = torch.load(args.ckpt, map_location='cpu', weights_only=False)
    meta = {'format': 'scalewise-1', 'data_sha256': ck.get('data_sha256', ''),
            'train_commit': args.commit or git_commit(),
            'train_command': ' '.join(['python3'] + list(ck.get('argv', []))),
            'train_stats': json.dumps(train_stats(args.ckpt, ck))}
    if 'kind' in ck:   # tokenizer
        tok, _ = tok_train.load(args.ckpt)
        meta['family'] = ck['kind']
        meta['config'] = json.dumps(tok.model.config)
        prev, rms = fit_preview(tok, args.data)
        meta['image_size'] = str(common.Glyphs(args.data, 'test', 'cpu', 1).images.shape[-1])
        meta['preview'] = json.dumps(prev)
        print(f'preview fit: rms {rms:.4f} (0..1 units)')
        tensors = pack(tok.model.state_dict())
    else:              # generator
        meta['family'] = ck['family']
        meta['config'] = json.dumps(ck['config'])
        meta['classes'] = json.dumps(ck['classes'])
        meta['tokenizer'] = args.tokenizer_file
        if args.defaults:
            meta['defaults'] = json.dumps(json.loads(args.defaults))
        import gen_families
        tok = tok_train.load_from_config(ck['tokenizer_config'], gen_families.FAMILIES[ck['family']].tokenizer_kind)
        fam = gen_families.make(ck['family'], tok, gen_families.side_of(ck['config']))
        model = gen_families.rebuild(fam, ck['config'])
        meta['image_size'] = str(gen_families.side_of(ck['config']) * tok.model.downsample)
        model.load_state_dict({k: v.float() for k, v in ck['model'].items()}, strict=False)
        state = dict(ck['model'])
        if ck['config'].get('tie_embeddings'):   # AiM: the head is the word-embedding table; store it once
            state.pop('mamba.lm_head.weight', None)
        tensors = pack(state, linear_weight_names(model))
    if args.extra_meta:
        meta.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in json.loads(args.extra_meta).items()})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    mib = os.path.getsize(args.out) / 2 ** 20
    print(f'wrote {args.out}: {len(tensors)} tensors, {mib:.2f} MiB, family {meta["family"]}')


def train_stats(path, ck):
    st = dict(steps=ck.get('step'), seconds=round(ck.get('elapsed', 0), 1))
    ev = os.path.join(os.path.dirname(path), 'eval.json')
    if os.path.exists(ev):
        with open(ev) as f:
            st['eval'] = json.load(f)
    return st


def retag(args):
    """Rewrite metadata entries of an exported file in place (tensors untouched)."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(args.retag, 'pt') as f:
        meta = dict(f.metadata())
    tensors = load_file(args.retag)
    meta.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in json.loads(args.extra_meta).items()})
    tmp = args.retag + '.tmp'
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, args.retag)
    print(f'retagged {args.retag}: {json.loads(args.extra_meta)}')


def unpack(args):
    """A shipped file back into a training checkpoint (weights dequantised, no optimizer state), so later models
    can pair with a shipped tokenizer or start from a shipped generator (train_generator.py --init)."""
    from safetensors import safe_open
    with safe_open(args.unpack, 'pt') as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    stats = json.loads(meta.get('train_stats', '{}'))
    ck = dict(model=dequantize(tensors), config=json.loads(meta['config']), step=stats.get('steps', 0),
              elapsed=stats.get('seconds', 0.0), data_sha256=meta.get('data_sha256', ''),
              argv=meta.get('train_command', '').split()[1:], unpacked_from=os.path.basename(args.unpack))
    if meta['family'] in ('vqvae', 'flexvqvae'):
        ck['kind'] = meta['family']
        tok = tok_train.build(ck['kind'], tok_train.cfg_for_build(ck['kind'], ck['config']))
        ck['model'] = dict(tok.model.state_dict(), **ck['model'])   # buffers export leaves out (e.g. EMA hits)
    else:
        ck['family'] = meta['family']
        ck['classes'] = json.loads(meta['classes'])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(ck, args.out)
    print(f'unpacked {args.unpack} -> {args.out}: {len(ck["model"])} tensors, family {meta["family"]}')


def slim(args):
    ck = torch.load(args.slim, map_location='cpu', weights_only=False)
    dt = torch.bfloat16 if args.dtype == 'bf16' else torch.float32
    ck['model'] = {k: (v.to(dt) if torch.is_floating_point(v) and k.split('.')[-1] not in SKIP else v)
                   for k, v in ck['model'].items() if k.split('.')[-1] not in ('attn_bias_for_masking',)}
    ck.pop('opt', None)
    torch.save(ck, args.out)
    print(f'slim {args.out}: {os.path.getsize(args.out) / 2 ** 20:.2f} MiB')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ckpt')
    p.add_argument('--slim', help='write a weights-only copy of this checkpoint to --out')
    p.add_argument('--dtype', default='bf16', choices=['bf16', 'fp32'])
    p.add_argument('--unpack', help='turn this exported file back into a training checkpoint at --out')
    p.add_argument('--retag', help='update metadata of this exported file with --extra-meta')
    p.add_argument('--out')
    p.add_argument('--data', help='fonts64.npz (tokenizers: held-out images for the preview fit)')
    p.add_argument('--tokenizer-file', dest='tokenizer_file', help='generators: file name of the paired tokenizer')
    p.add_argument('--defaults', help='generators: JSON sampling defaults')
    p.add_argument('--extra-meta', dest='extra_meta', help='JSON of extra metadata entries')
    p.add_argument('--commit', help='train_commit to record (default: git HEAD of this checkout)')
    args = p.parse_args()
    if args.retag:
        retag(args)
    elif args.unpack:
        unpack(args)
    elif args.slim:
        slim(args)
    else:
        export(args)


if __name__ == '__main__':
    main()
