"""Writes the Swift parity fixtures for the Mamba family (Tests/EngineTests/Fixtures/mamba_tiny/):

  mambavar.safetensors   MambaVAR(depth=2, embed_dim=64, num_heads=2, num_classes=10, attn_l2_norm=False) with
                         Mamba2(d_state=32, headdim=32 -> 4 heads, d_conv=4, expand=2), over VAR's tiny VQVAE
                         (../var_tiny/vqvae.safetensors, referenced by relative path in the `tokenizer` metadata)
  aim.safetensors        AiM(d_model=64, n_layer=2, vocab 64, 16x16 tokens, adaLN per layer, d_state 32, headdim 32),
                         sample_pos_shift 0 (ours); a tiny random LlamaGen-style tokenizer (decoder side only,
                         ch_mult (1,): a 16x16 map decodes to 16x16 px) inside under `vqvae.*`, as in the official
                         files; the tied head stored once as word_embeddings
  aim_group.safetensors  the adaLN-group variant (AiM-L/XL layout): 3 layers, 2 groups (layer 2 reuses group 0),
                         the tied head stored once under its other name, mamba.lm_head.weight; its tokenizer is
                         aim.safetensors' (`tokenizer` metadata)
  expected.safetensors   reference outputs; every key is described in its `note` metadata entry

Weights are random, far from the training init (AdaLN gammas ~0.8, one slow-decaying Mamba head per layer so the
state carried across scales matters), rounded to float16-representable values and stored F16 (lossless). Expected
outputs are computed in float64 with tools/reference/{mamba2,mambavar,aim,vqvae,flexvqvae}.py and stored F32; a
float32 re-run must give the same tokens. Seeds are tried upward until greedy decoding has no near-ties.

    python tools/reference/make_mamba_fixtures.py      # deterministic: same files on every run
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from aim import AiM  # noqa: E402
from flexvqvae import FlexVQVAE  # noqa: E402
from make_fixtures import (PNG_RULE, _n, f16_round_, print_sizes, randomize_ada_lin, randomize_block,  # noqa: E402
                           randomize_embeddings, randomize_head, save_file, top2_gap)  # noqa: E402
from mamba2 import Mamba2  # noqa: E402
from mambavar import MambaVAR  # noqa: E402
from vqvae import VQVAE  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
FIX = os.path.join(ROOT, 'Tests', 'EngineTests', 'Fixtures')
OUT = os.path.join(FIX, 'mamba_tiny')
VQ_FILE = os.path.join(FIX, 'var_tiny', 'vqvae.safetensors')
PN = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
MAMBA = dict(d_state=32, d_conv=4, expand=2, headdim=32)
MVAR_CFG = dict(depth=2, embed_dim=64, num_heads=2, num_classes=10, patch_nums=PN, attn_l2_norm=False, **MAMBA)
AIM_CFG = dict(d_model=64, n_layer=2, vocab_size=64, num_classes=10, num_tokens=256, adaln_group=False,
               sample_pos_shift=0, **MAMBA)
AIM_GROUP_CFG = dict(AIM_CFG, n_layer=3, adaln_group=True, num_groups=2)
TOK_CFG = dict(codebook_size=64, codebook_embed_dim=8, z_channels=32, ch=32, ch_mult=(1,), num_res_blocks=1)
LABELS = [3, 7]
MVAR_CFGS = {'cfg3': 3.0, 'cfg1': 1.0}
AIM_CFG_SCALE = 3.0
GAP = 1e-3
MAMBA_L = 100                       # tokens of the stand-alone Mamba-2 layer check


@torch.no_grad()
def randomize_mamba(m, g):
    """in_proj/out_proj ~ fan-in scaled, conv taps ~N(0, 0.4^2), dt around softplus(-1) ~0.3, decays
    a = -exp(A_log) log-uniform in [0.01, 2] with head 0 the slowest (memory of ~300 tokens), D ~ 1 +- 0.5,
    gated-norm weight ~ 1 +- 0.25."""
    m.in_proj.weight.copy_(_n(g, m.in_proj.weight.shape, 1 / math.sqrt(m.d_model)))
    m.conv1d.weight.copy_(_n(g, m.conv1d.weight.shape, 0.4))
    m.conv1d.bias.copy_(_n(g, m.conv1d.bias.shape, 0.1))
    H = m.nheads
    m.dt_bias.copy_(_n(g, (H,), 0.5, -1.0))
    a = torch.exp(torch.rand(H, generator=g, dtype=torch.float64) * math.log(200) + math.log(0.01))
    a[0] = 0.01
    m.A_log.copy_(a.log())
    m.D.copy_(_n(g, m.D.shape, 0.5, 1.0))
    m.norm.weight.copy_(_n(g, m.norm.weight.shape, 0.25, 1.0))
    m.out_proj.weight.copy_(_n(g, m.out_proj.weight.shape, 1 / math.sqrt(m.d_inner)))


@torch.no_grad()
def randomize_mvar(m, g):
    """As make_fixtures.randomize_var (class embeddings ~N(0,1), AdaLN ~N(0, 0.08^2) with gammas ~0.8, head ~N(0, 9/C)),
    with the 9C AdaLN (g1 g2 g3 s1 s2 s3 b1 b2 b3) and the Mamba-2 sublayer."""
    randomize_embeddings(m, g)
    for bi, b in enumerate(m.blocks):
        randomize_block(b, g, bi)
        randomize_mamba(b.mamba, g)
        randomize_ada_lin(b, g, gammas=3)
    randomize_head(m, g)
    f16_round_(m)


@torch.no_grad()
def randomize_aim(m, g):
    """Embeddings ~N(0, 0.5^2) (word embeddings are also the tied head: logits std ~4), class embeddings ~N(0,1),
    adaLN (shift, scale, gate) ~N(0, 0.08^2) with gates ~0.8, RMSNorm weights ~1 +- 0.25."""
    bb = m.mamba.backbone
    D = m.d_model
    bb.embeddings.word_embeddings.weight.copy_(_n(g, bb.embeddings.word_embeddings.weight.shape, 0.5))
    bb.embeddings.position_embeddings.weight.copy_(_n(g, bb.embeddings.position_embeddings.weight.shape, 0.5))
    bb.cls_embed.embedding_table.weight.copy_(_n(g, bb.cls_embed.embedding_table.weight.shape, 1.0))
    for mod in m.modules():
        if type(mod).__name__ in ('RMSNorm', 'RMSNormGated'):
            mod.weight.copy_(_n(g, mod.weight.shape, 0.25, 1.0))
    for layer in bb.layers:
        randomize_mamba(layer.mixer, g)
        layer.norm.weight.copy_(_n(g, (D,), 0.25, 1.0))
        if layer.adaln_group:
            layer.scale_shift_table.copy_(_n(g, layer.scale_shift_table.shape, 0.1))
            layer.scale_shift_table[0, 2] += 0.8
        else:
            lin = layer.adaLN_modulation[1]
            lin.weight.copy_(_n(g, lin.weight.shape, 0.08))
            lin.bias.copy_(_n(g, lin.bias.shape, 0.1))
            lin.bias[2 * D:] += 0.8
    if isinstance(bb.adaln_group, nn.Sequential):
        lin = bb.adaln_group[1]
        lin.weight.copy_(_n(g, lin.weight.shape, 0.08))
        lin.bias.copy_(_n(g, lin.bias.shape, 0.1))
    lin = bb.final_layer.adaLN_modulation[1]
    lin.weight.copy_(_n(g, lin.weight.shape, 0.08))
    lin.bias.copy_(_n(g, lin.bias.shape, 0.1))
    f16_round_(m)


@torch.no_grad()
def randomize_tokenizer(t, g):
    for mod in t.modules():
        if isinstance(mod, nn.Conv2d):
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            mod.weight.copy_(_n(g, mod.weight.shape, 1 / math.sqrt(fan_in)))
            mod.bias.copy_(_n(g, mod.bias.shape, 0.1))
        elif isinstance(mod, nn.GroupNorm):
            mod.weight.copy_(_n(g, mod.weight.shape, 0.25, 1.0))
            mod.bias.copy_(_n(g, mod.bias.shape, 0.15))
    t.quantize.embedding.weight.copy_(_n(g, t.quantize.embedding.weight.shape, 1.0))
    f16_round_(t)


def load_vqvae():
    from safetensors import safe_open
    with safe_open(VQ_FILE, 'pt') as f:
        cfg = json.loads(f.metadata()['config'])
    vq = VQVAE(**cfg).double().eval()
    sd = {k: v.double() for k, v in load_file(VQ_FILE).items()}
    missing, unexpected = vq.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.split('.')[-1] in ('ema_vocab_hit_SV', 'codebook_used') for k in missing), missing
    return vq


def build(seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)   # constructors draw from the global RNG; everything is overwritten
    vq = load_vqvae()
    mvar = MambaVAR(vq, cond_drop_rate=0.0, **MVAR_CFG).double().eval()
    randomize_mvar(mvar, g)
    aims = {}
    for name, cfg in (('aim', AIM_CFG), ('aim_group', AIM_GROUP_CFG)):
        a = AiM(cond_drop_rate=0.0, **cfg).double().eval()
        randomize_aim(a, g)
        aims[name] = a
    tok = FlexVQVAE(**TOK_CFG).double().eval()
    randomize_tokenizer(tok, g)
    data = dict(
        idx=[torch.randint(0, vq.V, (2, pn * pn), generator=g) for pn in PN],
        code=torch.randint(0, AIM_CFG['vocab_size'], (2, AIM_CFG['num_tokens']), generator=g),
        u=_n(g, (2, MAMBA_L, MVAR_CFG['embed_dim']), 1.0),
    )
    return vq, mvar, aims, tok, data


@torch.no_grad()
def run(vq, mvar, aims, data):
    """All expected outputs (in the models' dtype) and the greedy tie gaps."""
    e, gaps = {}, {}
    labels = torch.tensor(LABELS)
    # stand-alone Mamba-2 layer (block 0's): chunked forward from zero state == token recurrence
    mb = mvar.blocks[0].mamba
    u = data['u'].to(mb.in_proj.weight.dtype)
    e['mamba.u'] = u
    e['mamba.y'] = mb(u)
    gaps['mamba_chunk_vs_step'] = (mb.forward_recurrent(u)[0] - e['mamba.y']).abs().max().item()
    # M-VAR teacher forcing
    for si, t in enumerate(data['idx']):
        e[f'tf.idx.{si}'] = t.to(torch.int32)
    x_in = vq.quantize.idxBl_to_var_input(data['idx']).to(mvar.head.weight.dtype)
    e['tf.logits'] = mvar(labels, x_in)
    gaps['mvar_tf_vs_carried'] = (mvar.forward_incremental(labels, x_in) - e['tf.logits']).abs().max().item()
    for tag, cfg in MVAR_CFGS.items():
        out, trace = mvar.autoregressive_infer_cfg(2, labels, g_seed=0, cfg=cfg, top_k=1, return_all=True)
        gaps[f'mvar_greedy_{tag}'] = min(top2_gap(tr['logits']) for tr in trace)
        for si, tr in enumerate(trace):
            assert torch.equal(tr['idx'], tr['logits'].argmax(-1))
            e[f'greedy.{tag}.idx.{si}'] = tr['idx'].to(torch.int32)
            if tag == 'cfg3':
                e[f'greedy.{tag}.logits.{si}'] = tr['logits']
        e[f'greedy.{tag}.png'] = torch.floor(out.double() * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    # AiM
    code = data['code']
    for name, a in aims.items():
        for sh in ((0, 1) if name == 'aim' else (0,)):
            e[f'{name}.tf.logits.shift{sh}'] = a(code, labels, pos_shift=sh)
        st = a.init_states(2)
        steps = torch.stack([a.step(None if j == 0 else code[:, j - 1], labels, st, j, pos_shift=0)
                             for j in range(code.shape[1])], 1)
        gaps[f'{name}_forward_vs_step'] = (steps - e[f'{name}.tf.logits.shift0']).abs().max().item()
        _, lg = a.generate(labels, cfg_scale=AIM_CFG_SCALE, top_k=1, return_logits=True)
        toks = lg.argmax(-1)
        gaps[f'{name}_greedy'] = top2_gap(lg)
        e[f'{name}.greedy.idx'] = toks.to(torch.int32)
        if name == 'aim':
            e[f'{name}.greedy.logits'] = lg
    e['aim.tf.code'] = code.to(torch.int32)
    return e, gaps


def note():
    S = len(PN)
    return {
        'labels': 'class labels [3, 7] (batch rows 0, 1); the null class is 10',
        'mamba.u': f'F32 [2,{MAMBA_L},64] random input of blocks.0.mamba (mambavar.safetensors)',
        'mamba.y': f'F32 [2,{MAMBA_L},64] Mamba2 forward from zero state (chunked SSD, chunk 64)',
        'tf.idx.{si}': f'I32 [2, pn^2], si = 0..{S - 1}: random token pyramid',
        'tf.logits': 'F32 [2,680,64] MambaVAR.forward(labels, idxBl_to_var_input(tf.idx)): scale-local attention, '
                     'one Mamba pass over all 680 tokens',
        'greedy.{tag}.idx.{si}': 'I32 [2, pn^2] autoregressive_infer_cfg(B=2, labels, cfg, top_k=1) tokens; '
                                 'tag cfg3: cfg=3.0, cfg1: cfg=1.0; guidance t = cfg*si/9 (VAR ramp)',
        'greedy.cfg3.logits.{si}': 'F32 [2, pn^2, 64] guided logits (1+t)*cond - t*uncond before top-k',
        'greedy.{tag}.png': 'U8 [2,32,32,3] HWC pixels of the sampler output; ' + PNG_RULE,
        'aim.tf.code': 'I32 [2,256] random image tokens (row-major 16x16)',
        'aim.tf.logits.shift{0,1}, aim_group.tf.logits.shift0': 'F32 [2,256,64] AiM.forward(code, labels, pos_shift): '
                                                               'logits[k] predicts code[k]; token k at position k + shift',
        '{aim,aim_group}.greedy.idx': f'I32 [2,256] AiM.generate(labels, cfg_scale={AIM_CFG_SCALE}, top_k=1) with the '
                                      "file's sample_pos_shift (0)",
        'aim.greedy.logits': 'F32 [2,256,64] guided logits u + cfg*(c - u) at every step, before top-k',
        'precision': 'computed in float64 from the float16-representable weights, stored F32',
    }


def save_weights(sd, path, meta):
    t = {k: v.detach().float().contiguous() for k, v in sd.items() if torch.is_floating_point(v)
         and k.split('.')[-1] not in ('attn_bias_for_masking', 'lvl_1L', 'zero_k_bias', 'codebook_used')}
    t = {k: (v.half() if v.numel() >= 1024 else v) for k, v in t.items()}
    save_file(t, path, metadata=meta)


def float32_rerun(vq, mvar, aims, data, e):
    """The same weights in float32 must pick the same tokens; returns the worst relative logit error."""
    vq32 = load_vqvae().float()
    m32 = MambaVAR(vq32, cond_drop_rate=0.0, **MVAR_CFG).eval()
    m32.load_state_dict(mvar.state_dict())
    a32 = {}
    for name, cfg in (('aim', AIM_CFG), ('aim_group', AIM_GROUP_CFG)):
        a32[name] = AiM(cond_drop_rate=0.0, **cfg).eval()
        a32[name].load_state_dict(aims[name].state_dict())
    data32 = dict(data, u=data['u'].float())
    e32, _ = run(vq32, m32, a32, data32)
    worst = 0.0
    for k, v in e.items():
        if v.dtype == torch.uint8:
            assert int((v.int() - e32[k].int()).abs().max()) <= 1, k
        elif not torch.is_floating_point(v):
            assert torch.equal(v, e32[k]), f'float32 re-run changes {k}'
        else:
            worst = max(worst, (v - e32[k].double()).abs().max().item() / max(v.abs().max().item(), 1e-30))
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=OUT)
    p.add_argument('--seed', type=int, default=0, help='first seed tried')
    args = p.parse_args()
    torch.set_num_threads(1)
    seed = args.seed
    while True:
        vq, mvar, aims, tok, data = build(seed)
        e, gaps = run(vq, mvar, aims, data)
        ok = min(v for k, v in gaps.items() if 'greedy' in k) > GAP
        print(f'seed {seed}: ' + ', '.join(f'{k} {v:.3g}' for k, v in gaps.items()) + ('' if ok else '  -> re-seed'))
        if ok:
            break
        seed += 1
    assert max(v for k, v in gaps.items() if 'greedy' not in k) < 1e-9, gaps
    worst = float32_rerun(vq, mvar, aims, data, e)
    print(f'float32 re-run: identical tokens; worst relative error {worst:.2e}')

    os.makedirs(args.out, exist_ok=True)
    prov = {'format': 'scalewise-1', 'train_command': 'python tools/reference/make_mamba_fixtures.py', 'seed': str(seed)}
    classes = json.dumps([f'c{i}' for i in range(MVAR_CFG['num_classes'])])
    save_weights(mvar.state_dict(), os.path.join(args.out, 'mambavar.safetensors'),
                 dict(prov, family='mambavar', config=json.dumps(mvar.config), classes=classes,
                      tokenizer='../var_tiny/vqvae.safetensors'))
    tok_sd = {'vqvae.' + k: v for k, v in tok.state_dict().items() if not k.startswith(('encoder.', 'quant_conv.'))}
    drop = {'aim': 'mamba.lm_head.weight', 'aim_group': 'mamba.backbone.embeddings.word_embeddings.weight'}
    for name, a in aims.items():
        sd = {k: v for k, v in a.state_dict().items() if k != drop[name]}
        meta = dict(prov, family='aim', config=json.dumps(a.config), classes=classes,
                    tokenizer_config=json.dumps(tok.config))
        if name == 'aim':
            sd.update(tok_sd)
        else:
            meta['tokenizer'] = 'aim.safetensors'
        save_weights(sd, os.path.join(args.out, name + '.safetensors'), meta)
    exp = {k: (v.float() if torch.is_floating_point(v) else v).contiguous() for k, v in e.items()}
    meta = dict(prov, note=json.dumps(note()), labels=json.dumps(LABELS), mvar_cfgs=json.dumps(MVAR_CFGS),
                aim_cfg_scale=str(AIM_CFG_SCALE), top_k='1', png_rounding=PNG_RULE,
                min_gaps=json.dumps({k: float(f'{v:.4g}') for k, v in gaps.items()}),
                float32_rerun_max_rel_err=f'{worst:.3g}')
    save_file(exp, os.path.join(args.out, 'expected.safetensors'), metadata=meta)
    print_sizes(args.out)


if __name__ == '__main__':
    main()
