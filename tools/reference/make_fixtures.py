"""Writes the Swift parity fixtures for VAR + its multi-scale VQVAE (Tests/EngineTests/Fixtures/var_tiny/):

  vqvae.safetensors       VQVAE(vocab_size=64, z_channels=8, ch=32, ch_mult=(1,2), num_res_blocks=1), 32x32 <-> 16x16
  var.safetensors         VAR(depth=2, embed_dim=64, num_heads=2, num_classes=10, attn_l2_norm=True)
  var_legacy.safetensors  the same weights with attn_l2_norm=False (no scale_mul_1H11: plain attention, 0.25/sqrt(hd))
  var.pth                 torch.save(var.state_dict()) of var.safetensors' model (official key names, buffers included)
  expected.safetensors    reference outputs for labels [3, 7]; every key is described in its `note` metadata entry

Random weights are scaled so that every op matters (GroupNorm/AdaLN affines far from identity, non-zero biases,
non-trivial phi convs, one attention head whose log-temperature exceeds the ln(100) clamp, cfg visibly changes tokens)
while activations stay O(1). All weights are rounded to float16-representable values (stored F32), so an F16 copy
(--compact) is lossless and expected.safetensors is the same either way. Expected outputs are computed in float64
with the reference classes (tools/reference/{vqvae,var}.py, checked against the official code: README.md) and stored
F32; a float32 re-run must give the same tokens. Seeds are tried from --seed upward until greedy decoding and the
encoder's nearest-code search have no near-ties (top-2 gap > GAP everywhere), so the Swift tests are well-posed.

    python tools/reference/make_fixtures.py            # deterministic: same files on every run
    python tools/reference/make_fixtures.py --compact  # F16 weight files and a .pth without attn_bias_for_masking
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from var import VAR  # noqa: E402
from vqvae import VQVAE  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
OUT = os.path.join(ROOT, 'Tests', 'EngineTests', 'Fixtures', 'var_tiny')
PN = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
VQ_CFG = dict(vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 2), num_res_blocks=1, v_patch_nums=PN)
VAR_CFG = dict(depth=2, embed_dim=64, num_heads=2, num_classes=10, patch_nums=PN)
LABELS = [3, 7]
CFGS = {'cfg3': 3.0, 'cfg1': 1.0}
IMG = 32
GAP = 1e-3            # minimum top-2 gap (greedy logits; encoder code distances) for a seed to be accepted
SKIP = ('attn_bias_for_masking', 'lvl_1L', 'zero_k_bias', 'ema_vocab_hit_SV', 'codebook_used')  # as tools/train/export.py
PNG_RULE = 'png = clamp(floor(img * 255 + 0.5), 0, 255) as uint8, img in [0,1] (round half up, no truncation)'


_DT = {torch.float32: 'F32', torch.float16: 'F16', torch.int32: 'I32', torch.uint8: 'U8', torch.int64: 'I64',
       torch.int8: 'I8'}


def save_file(tensors, path, metadata):
    """safetensors writer with a byte-stable layout (the Rust writer orders the metadata at random): metadata and
    tensors sorted by name, header padded with spaces to a multiple of 8. Read back and checked."""
    header, offset, blobs = {'__metadata__': dict(sorted(metadata.items()))}, 0, []
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        b = t.numpy().tobytes() if t.dtype != torch.float16 else t.view(torch.int16).numpy().tobytes()
        header[k] = {'dtype': _DT[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(len(h).to_bytes(8, 'little'))
        f.write(h)
        for b in blobs:
            f.write(b)
    back = load_file(path)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors), path


def _n(g, shape, std, mean=0.0):
    return torch.randn(shape, generator=g, dtype=torch.float64) * std + mean


@torch.no_grad()
def f16_round_(model):
    for p in model.parameters():
        p.copy_(p.half().to(p.dtype))


@torch.no_grad()
def randomize_convnet_(net, g, qk_suffixes):
    """Convs ~ N(0, gain^2/fan_in) (gain 1.5 for attention q/k projections, 0.7 for proj_out), biases ~ N(0, 0.1^2),
    GroupNorm affine ~ (1 + N(0, 0.25^2), N(0, 0.15^2)); in module order."""
    for name, m in net.named_modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            gain = 1.5 if name.endswith(qk_suffixes) else (0.7 if name.endswith('proj_out') else 1.0)
            m.weight.copy_(_n(g, m.weight.shape, gain / math.sqrt(fan_in)))
            m.bias.copy_(_n(g, m.bias.shape, 0.1))
        elif isinstance(m, nn.GroupNorm):
            m.weight.copy_(_n(g, m.weight.shape, 0.25, 1.0))
            m.bias.copy_(_n(g, m.bias.shape, 0.15))


@torch.no_grad()
def randomize_vqvae(vq, g):
    """Convs ~ N(0, gain^2/fan_in), biases ~ N(0, 0.1^2), GroupNorm affine ~ (1 + N(0, 0.25^2), N(0, 0.15^2)),
    codebook ~ N(0, 1), phi convs as strong as their skip path; then the encoder output and the decoder output are
    calibrated (quant_conv, decoder.conv_out) to std ~1 and ~0.45 so f matches the codebook scale and few pixels clip."""
    randomize_convnet_(vq, g, qk_suffixes=('.qkv',))
    q = vq.quantize
    q.embedding.weight.copy_(_n(g, q.embedding.weight.shape, 1.0))
    # calibrate the decoder output on f_hat of random token pyramids
    ids = [torch.randint(0, q.vocab_size, (8, pn * pn), generator=g) for pn in PN]
    calibrate_(vq, g, vq.decoder(vq.post_quant_conv(q.idxBl_to_fhat(ids)[-1])), vq.encode_f)
    f16_round_(vq)


@torch.no_grad()
def calibrate_(vq, g, y, encode_f):
    """Scales decoder.conv_out so that the decoder output y becomes std ~0.45 around small per-channel offsets (few
    pixels clip), and quant_conv so that encode_f of smooth images has std ~1 (the codebook's scale)."""
    s = 0.45 / y.std().item()
    vq.decoder.conv_out.weight.mul_(s)
    vq.decoder.conv_out.bias.copy_(vq.decoder.conv_out.bias * s - y.mean((0, 2, 3)) * s + _n(g, (3,), 0.05))
    f = encode_f(smooth_images(g, 8).to(vq.quant_conv.weight.dtype))
    s = 1.0 / f.std().item()
    vq.quant_conv.weight.mul_(s)
    vq.quant_conv.bias.mul_(s)


@torch.no_grad()
def randomize_var(var, g):
    """Far from the training init: class embeddings ~N(0,1), AdaLN Linear ~N(0, 0.08^2) (gammas ~0.8 +- 0.4,
    scales/shifts ~+-0.4), per-head log-temperatures ln4 +- 0.5 with block 1 head 1 above the ln(100) clamp,
    head ~N(0, 9/C) so logits have std ~3 and greedy ties are rare."""
    randomize_embeddings(var, g)
    for bi, b in enumerate(var.blocks):
        randomize_block(b, g, bi)
        randomize_ada_lin(b, g, gammas=2)                     # gamma1, gamma2 around 0.8
    randomize_head(var, g)
    f16_round_(var)


@torch.no_grad()
def randomize_embeddings(var, g):
    """The VAR-family embeddings (class, pos_start, pos_1LC, lvl_embed, word_embed); shared by make_mamba_fixtures."""
    C = var.C
    var.class_emb.weight.copy_(_n(g, var.class_emb.weight.shape, 1.0))
    var.pos_start.copy_(_n(g, var.pos_start.shape, 0.5))
    var.pos_1LC.copy_(_n(g, var.pos_1LC.shape, 0.5))
    if hasattr(var, 'lvl_embed'):  # FlexVAR has none (make_flex_mvar_fixtures.py)
        var.lvl_embed.weight.copy_(_n(g, var.lvl_embed.weight.shape, 0.5))
    var.word_embed.weight.copy_(_n(g, var.word_embed.weight.shape, 0.5 / math.sqrt(var.Cvae)))
    var.word_embed.bias.copy_(_n(g, (C,), 0.1))


@torch.no_grad()
def randomize_block(b, g, bi):
    """A block's attention (block 1's last head above the ln 100 clamp when l2-normalised) and FFN."""
    a, C = b.attn, b.C
    a.mat_qkv.weight.copy_(_n(g, a.mat_qkv.weight.shape, 2.0 / math.sqrt(C)))
    a.q_bias.copy_(_n(g, (C,), 0.2))
    a.v_bias.copy_(_n(g, (C,), 0.2))
    if a.attn_l2_norm:
        a.scale_mul_1H11.copy_(_n(g, a.scale_mul_1H11.shape, 0.5, math.log(4)))
        if bi == 1:
            a.scale_mul_1H11[0, -1] = math.log(100) + 0.3   # exercises clamp_max(ln 100)
    a.proj.weight.copy_(_n(g, a.proj.weight.shape, 1.0 / math.sqrt(C)))
    a.proj.bias.copy_(_n(g, (C,), 0.05))
    b.ffn.fc1.weight.copy_(_n(g, b.ffn.fc1.weight.shape, 1.0 / math.sqrt(C)))
    b.ffn.fc1.bias.copy_(_n(g, b.ffn.fc1.bias.shape, 0.1))
    b.ffn.fc2.weight.copy_(_n(g, b.ffn.fc2.weight.shape, 1.0 / math.sqrt(b.ffn.fc2.in_features)))
    b.ffn.fc2.bias.copy_(_n(g, (C,), 0.05))


@torch.no_grad()
def randomize_ada_lin(b, g, gammas):
    """AdaLN ~N(0, 0.08^2), the first `gammas` chunks (the gates) around 0.8."""
    lin = b.ada_lin[1]
    lin.weight.copy_(_n(g, lin.weight.shape, 0.08))
    lin.bias.copy_(_n(g, lin.bias.shape, 0.1))
    lin.bias[:gammas * b.C] += 0.8


@torch.no_grad()
def randomize_head(var, g):
    lin = var.head_nm.ada_lin[1]
    lin.weight.copy_(_n(g, lin.weight.shape, 0.08))
    lin.bias.copy_(_n(g, lin.bias.shape, 0.1))
    var.head.weight.copy_(_n(g, var.head.weight.shape, 3.0 / math.sqrt(var.C)))
    var.head.bias.copy_(_n(g, var.head.bias.shape, 0.5))


def smooth_images(g, n, side=IMG):
    """Random smooth RGB images in (-1, 1): 4x4 Gaussian noise, bicubic-upsampled, squashed by tanh."""
    x = _n(g, (n, 3, 4, 4), 1.0)
    return torch.tanh(1.2 * F.interpolate(x, size=(side, side), mode='bicubic')).float().double()


def build(seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # module constructors draw from the global RNG; everything is overwritten anyway
    vq = VQVAE(**VQ_CFG).double().eval()
    randomize_vqvae(vq, g)
    var = VAR(vq, attn_l2_norm=True, cond_drop_rate=0.0, **VAR_CFG).double().eval()
    randomize_var(var, g)
    legacy = VAR(vq, attn_l2_norm=False, cond_drop_rate=0.0, **VAR_CFG).double().eval()
    legacy.load_state_dict({k: v for k, v in var.state_dict().items() if 'scale_mul_1H11' not in k}, strict=True)
    img = smooth_images(g, 2)
    return vq, var, legacy, img


def top2_gap(x, largest=True):
    t = x.topk(2, dim=-1, largest=largest).values
    return (t[..., 0] - t[..., 1]).abs().min().item()


@torch.no_grad()
def run(vq, var, legacy, img):
    """All expected outputs (in the models' dtype) and the tie gaps."""
    e, gaps = {}, {}
    labels = torch.tensor(LABELS)
    e['enc.img'] = img
    f = vq.encode_f(img)
    e['enc.f'] = f
    idx = vq.quantize.f_to_idxBl_or_fhat(f, to_fhat=False)
    # encoder tie gap: nearest vs second-nearest squared distance at every scale, re-run on the residual
    f_rest, d_gap = f.clone(), float('inf')
    E = vq.quantize.embedding.weight
    for si, pn in enumerate(PN):
        z = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != len(PN) - 1 else f_rest
        zz = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        d_gap = min(d_gap, top2_gap(torch.cdist(zz, E).square(), largest=False))
        h = vq.quantize.embedding(idx[si]).transpose(1, 2).reshape(2, -1, pn, pn)
        if si != len(PN) - 1:
            h = F.interpolate(h, size=(16, 16), mode='bicubic')
        f_rest = f_rest - vq.quantize.phi(si)(h)
    gaps['encoder_distance'] = d_gap
    for si, t in enumerate(idx):
        e[f'tf.idx.{si}'] = t.to(torch.int32)
    x_in = vq.quantize.idxBl_to_var_input(idx)
    e['tf.logits'] = var(labels, x_in)
    e['tf_legacy.logits'] = legacy(labels, x_in)
    fh = vq.quantize.idxBl_to_fhat(idx)
    for si, t in enumerate(fh):
        e[f'tf.fhat.{si}'] = t
    e['tf.img'] = vq.fhat_to_img(fh[-1])
    for tag, cfg in CFGS.items():
        out, trace = var.autoregressive_infer_cfg(2, labels, g_seed=0, cfg=cfg, top_k=1, return_all=True)
        gaps[f'greedy_{tag}_logits'] = min(top2_gap(tr['logits']) for tr in trace)
        for si, tr in enumerate(trace):
            assert torch.equal(tr['idx'], tr['logits'].argmax(-1)), 'top_k=1 must be the argmax'
            e[f'greedy.{tag}.idx.{si}'] = tr['idx'].to(torch.int32)
            e[f'greedy.{tag}.logits.{si}'] = tr['logits']
        e[f'greedy.{tag}.img'] = out
        e[f'greedy.{tag}.png'] = torch.floor(out.double() * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    # self-consistency: KV-cache logits at cfg=0 == teacher-forced logits on the same tokens
    _, tr0 = var.autoregressive_infer_cfg(2, labels, cfg=0.0, top_k=1, return_all=True)
    tf0 = var(labels, vq.quantize.idxBl_to_var_input([t['idx'] for t in tr0]))
    kv0 = torch.cat([t['logits'] for t in tr0], 1)
    gaps['kv_vs_tf_maxdiff'] = (kv0 - tf0).abs().max().item()
    return e, gaps


def stats(vq, var, e):
    """Numbers showing that the weights are not degenerate (printed, and stored in the metadata)."""
    with torch.no_grad():
        cond = var.class_emb(torch.tensor(LABELS + [var.num_classes]))
        mods = torch.stack([b.ada_lin(cond) for b in var.blocks])
    tf_img = e['tf.img']
    diff_tokens = {si: int((e[f'greedy.cfg3.idx.{si}'] != e[f'greedy.cfg1.idx.{si}']).sum()) for si in range(len(PN))}
    return dict(
        adaln_abs_mean=round(mods.abs().mean().item(), 3),
        tf_logit_std=round(e['tf.logits'].std().item(), 3),
        tf_img_std=round(tf_img.std().item(), 3),
        tf_img_clipped_frac=round((tf_img.abs() >= 1).double().mean().item(), 4),
        enc_f_std=round(e['enc.f'].std().item(), 3),
        cfg3_vs_cfg1_tokens_differing=sum(diff_tokens.values()),
        distinct_tf_tokens=int(torch.cat([e[f'tf.idx.{si}'].flatten() for si in range(len(PN))]).unique().numel()),
    )


def note():
    S = len(PN)
    return {
        'labels': 'class labels [3, 7] (batch rows 0, 1); the null class is 10',
        'enc.img': 'F32 [2,3,32,32] random smooth images in [-1,1] (encoder input)',
        'enc.f': 'F32 [2,8,16,16] quant_conv(encoder(enc.img))',
        'tf.idx.{si}': f'I32 [2, pn^2], si = 0..{S - 1}: residual multi-scale tokens of enc.f (f_to_idxBl_or_fhat)',
        'tf.logits': 'F32 [2,680,64] VAR.forward(labels, idxBl_to_var_input(tf.idx)), block-causal mask, no cond drop',
        'tf_legacy.logits': 'F32 [2,680,64] the same with var_legacy.safetensors (attn_l2_norm=False)',
        'tf.fhat.{si}': 'F32 [2,8,16,16] f_hat after scales 0..si of tf.idx (bicubic-up, phi, accumulate)',
        'tf.img': 'F32 [2,3,32,32] fhat_to_img(tf.fhat.9) = clamp(decoder(post_quant_conv(f_hat)), -1, 1)',
        'greedy.{tag}.idx.{si}': 'I32 [2, pn^2] autoregressive_infer_cfg(B=2, labels, cfg, top_k=1) tokens (KV cache); '
                                 'tag cfg3: cfg=3.0, tag cfg1: cfg=1.0; guidance t = cfg*si/9 on [cond; uncond] logits',
        'greedy.{tag}.logits.{si}': 'F32 [2, pn^2, 64] guided logits (1+t)*cond - t*uncond at scale si, before top-k',
        'greedy.{tag}.img': 'F32 [2,3,32,32] the sampler output (clamp(decoded, -1, 1) + 1) / 2, in [0,1]',
        'greedy.{tag}.png': 'U8 [2,32,32,3] HWC pixels of greedy.{tag}.img; ' + PNG_RULE,
        'precision': 'computed in float64 from the float16-representable weights, stored F32',
    }


def save_weights(model, path, meta, compact):
    t = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
         if k.split('.')[-1] not in SKIP and torch.is_floating_point(v)}
    if compact:
        t = {k: (v.half() if v.numel() >= 4096 else v) for k, v in t.items()}
    save_file(t, path, metadata=meta)


@torch.no_grad()
def fit_preview(vq, g, n=32):
    """FORMAT.md `preview`: least squares from the f_hat vector of every scale to the decoded RGB [0,1] averaged over
    the latent cell's pixel block; on random token pyramids."""
    ids = [torch.randint(0, vq.V, (n, pn * pn), generator=g) for pn in PN]
    A, Y = [], []
    for fh in vq.quantize.idxBl_to_fhat(ids):
        rgb = (vq.fhat_to_img(fh) + 1) / 2
        cell = F.adaptive_avg_pool2d(rgb, fh.shape[-1])
        A.append(fh.permute(0, 2, 3, 1).reshape(-1, fh.shape[1]))
        Y.append(cell.permute(0, 2, 3, 1).reshape(-1, 3))
    A, Y = torch.cat(A).double(), torch.cat(Y).double()
    A1 = torch.cat([A, torch.ones(A.shape[0], 1, dtype=A.dtype)], 1)
    sol = torch.linalg.lstsq(A1, Y).solution
    return [[round(v, 6) for v in row] for row in sol[:-1].T.tolist()] + [[round(v, 6) for v in sol[-1].tolist()]]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=OUT)
    p.add_argument('--seed', type=int, default=0, help='first seed tried')
    p.add_argument('--compact', action='store_true', help='F16 weight files (lossless: weights are f16-rounded) and '
                   'a var.pth without the 1.8 MB attn_bias_for_masking buffer')
    args = p.parse_args()
    torch.set_num_threads(1)

    seed = args.seed
    while True:
        vq, var, legacy, img = build(seed)
        e, gaps = run(vq, var, legacy, img)
        ok = min(gaps['encoder_distance'], gaps['greedy_cfg3_logits'], gaps['greedy_cfg1_logits']) > GAP
        print(f'seed {seed}: gaps ' + ', '.join(f'{k} {v:.3g}' for k, v in gaps.items()) + ('' if ok else '  -> re-seed'))
        if ok:
            break
        seed += 1
    assert gaps['kv_vs_tf_maxdiff'] < 1e-9, gaps

    # float32 cross-check: the same weights in float32 must pick the same tokens, logits close
    vq32, var32, leg32 = VQVAE(**VQ_CFG).eval(), None, None
    vq32.load_state_dict(vq.state_dict())
    var32 = VAR(vq32, attn_l2_norm=True, cond_drop_rate=0.0, **VAR_CFG).eval()
    var32.load_state_dict(var.state_dict())
    leg32 = VAR(vq32, attn_l2_norm=False, cond_drop_rate=0.0, **VAR_CFG).eval()
    leg32.load_state_dict(legacy.state_dict())
    e32, _ = run(vq32, var32, leg32, img.float())
    f32_err = {}
    for k, v in e.items():
        if v.dtype in (torch.int32, torch.uint8):
            if k.endswith('.png'):
                f32_err[k] = int((v.int() - e32[k].int()).abs().max())
                assert f32_err[k] <= 1, (k, f32_err[k])
            else:
                assert torch.equal(v, e32[k]), f'float32 re-run changes {k}'
        else:
            f32_err[k] = (v - e32[k].double()).abs().max().item() / max(v.abs().max().item(), 1e-30)
    worst = max((v for k, v in f32_err.items() if not k.endswith('.png')))
    print(f'float32 re-run: identical tokens; worst relative error {worst:.2e}')

    st = stats(vq, var, e)
    print('stats: ' + json.dumps(st))
    os.makedirs(args.out, exist_ok=True)
    prov = {'format': 'scalewise-1', 'train_command': 'python tools/reference/make_fixtures.py' +
            (' --compact' if args.compact else ''), 'seed': str(seed), 'image_size': str(IMG)}
    vmeta = dict(prov, family='vqvae', config=json.dumps(vq.config),
                 preview=json.dumps(fit_preview(vq, torch.Generator().manual_seed(seed + 1000))))
    save_weights(vq, os.path.join(args.out, 'vqvae.safetensors'), vmeta, args.compact)
    classes = json.dumps([f'c{i}' for i in range(VAR_CFG['num_classes'])])
    for model, name in ((var, 'var'), (legacy, 'var_legacy')):
        meta = dict(prov, family='var', config=json.dumps(model.config), classes=classes,
                    tokenizer='vqvae.safetensors')
        save_weights(model, os.path.join(args.out, name + '.safetensors'), meta, args.compact)
    sd = {k: v.float() if torch.is_floating_point(v) else v for k, v in var.state_dict().items()}
    if args.compact:
        sd.pop('attn_bias_for_masking')
    torch.save(sd, os.path.join(args.out, 'var.pth'))
    exp = {k: (v.float() if torch.is_floating_point(v) else v).contiguous() for k, v in e.items()}
    meta = dict(prov, train_command='python tools/reference/make_fixtures.py', note=json.dumps(note()), labels=json.dumps(LABELS), cfgs=json.dumps(CFGS), top_k='1',
                png_rounding=PNG_RULE, min_gaps=json.dumps({k: float(f'{v:.4g}') for k, v in gaps.items()}),
                float32_rerun_max_rel_err=f'{worst:.3g}', stats=json.dumps(st))
    save_file(exp, os.path.join(args.out, 'expected.safetensors'), metadata=meta)

    print_sizes(args.out)


def print_sizes(out):
    total = 0
    for fn in sorted(os.listdir(out)):
        sz = os.path.getsize(os.path.join(out, fn))
        total += sz
        print(f'  {fn:<24} {sz / 1e6:7.3f} MB')
    print(f'  {"total":<24} {total / 1e6:7.3f} MB  -> {out}')


if __name__ == '__main__':
    main()
