"""Checks tools/reference/{vqvae,var}.py against the official FoundationVision/VAR code, on CPU, in float32.

    git clone https://github.com/FoundationVision/VAR /tmp/official/VAR     # a scratch copy, outside this repo
    python tools/reference/compare_official.py --official /tmp/official/VAR [--json results.json]

Nothing of the official code is copied here: it is imported from --official (its `models/` and `dist.py`, unmodified;
a stub stands in for `huggingface_hub`, which the official `models/var.py` imports only for a HF mixin class).
The official VQVAE hard-codes ch_mult=(1,1,2,2,4), num_res_blocks=2, so for other shapes its encoder and decoder are
replaced by the official `Encoder`/`Decoder` built with the wanted ch_mult/num_res_blocks.

For every configuration: state_dicts load strict=True in both directions with identical key order; then
  VQVAE: quant_conv(encoder(img)), the encoder's tokens (f_to_idxBl_or_fhat), f_hat per scale, idxBl_to_var_input,
         decoded pixels (idxBl_to_img) from the encoded and from random token pyramids;
  VAR:   teacher-forced logits (forward, cond_drop_rate=0), and autoregressive_infer_cfg with the KV cache:
         greedy (top_k=1) at cfg 3 and 1.5: guided logits per scale, tokens, f_hat per scale, image;
         seeded top-k/top-p sampling (same torch.Generator stream => same tokens), more_smooth, label None / -1.
Exit status 1 if any difference exceeds the tolerance (float32: 2e-5 relative to max|official|; tokens: exact).
"""
import argparse
import contextlib
import io
import json
import math
import os
import sys
import types
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402
import var as ours_var  # noqa: E402
import vqvae as ours_vqvae  # noqa: E402

TOL = 2e-5
RESULTS, FAILS = [], []


def record(group, name, a, b, exact=False):
    if exact:
        d = 0.0 if torch.equal(a, b) else float('nan')
        ok = d == 0.0
        ref = None
    else:
        d = (a.double() - b.double()).abs().max().item()
        ref = max(b.abs().max().item(), 1e-30)
        ok = d <= TOL * max(ref, 1.0)
    RESULTS.append(dict(group=group, name=name, max_abs_diff=d, max_abs_ref=ref, exact=exact, ok=ok))
    tag = 'ok  ' if ok else 'FAIL'
    what = ('identical' if ok else 'DIFFERENT') if exact else f'max|diff| {d:.3e}  (max|official| {ref:.3g})'
    print(f'  {tag} {group:<34} {name:<40} {what}')
    if not ok:
        FAILS.append(f'{group}: {name}')


def import_official(path):
    sys.path.insert(0, os.path.abspath(path))
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        stub = types.ModuleType('huggingface_hub')
        stub.PyTorchModelHubMixin = type('PyTorchModelHubMixin', (), {})
        sys.modules['huggingface_hub'] = stub
    import models.basic_vae as obv
    import models.var as ovar
    import models.vqvae as ovq
    return obv, ovq, ovar


def official_vqvae(obv, ovq, cfg):
    vq = ovq.VQVAE(vocab_size=cfg['vocab_size'], z_channels=cfg['z_channels'], ch=cfg['ch'], test_mode=True,
                   v_patch_nums=cfg['v_patch_nums'], share_quant_resi=cfg.get('share_quant_resi', 4),
                   quant_resi=cfg.get('quant_resi', 0.5))
    cm, nrb = tuple(cfg.get('ch_mult', (1, 1, 2, 2, 4))), cfg.get('num_res_blocks', 2)
    if (cm, nrb) != ((1, 1, 2, 2, 4), 2):
        dd = dict(dropout=0.0, ch=cfg['ch'], z_channels=cfg['z_channels'], in_channels=3, ch_mult=cm,
                  num_res_blocks=nrb, using_sa=True, using_mid_sa=True)
        vq.encoder = obv.Encoder(double_z=False, **dd)
        vq.decoder = obv.Decoder(**dd)
        vq.downsample = 2 ** (len(cm) - 1)
    return vq.eval()


@torch.no_grad()
def generic_randomize(model, g, std=0.05):
    """A different weight distribution than make_fixtures' (for the official -> ours direction)."""
    for n, p in model.named_parameters():
        if p.ndim >= 2 and 'embedding' not in n and 'class_emb' not in n:
            fan_in = p[0].numel()
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in) * (1.4 if 'head.' not in n else 4.0))
        elif n.startswith(('pos_', 'lvl_embed')):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        elif n.endswith('scale_mul_1H11'):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + math.log(4))
        elif n.endswith('norm.weight') or '.norm1.weight' in n or '.norm2.weight' in n or n.endswith('norm_out.weight'):
            p.copy_(1 + torch.randn(p.shape, generator=g) * 0.2)
        else:
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 if p.ndim >= 2 else 0.1))


def check_load(group, ours, off):
    ko, kf = list(ours.state_dict().keys()), list(off.state_dict().keys())
    RESULTS.append(dict(group=group, name='state_dict keys (names, order, shapes)', ok=ko == kf and all(
        ours.state_dict()[k].shape == off.state_dict()[k].shape for k in ko)))
    ok = RESULTS[-1]['ok']
    print(f'  {"ok  " if ok else "FAIL"} {group:<34} {"state_dict keys (names, order, shapes)":<40} {len(ko)} keys')
    if not ok:
        FAILS.append(f'{group}: keys')
        print('    only ours:', sorted(set(ko) - set(kf)), ' only official:', sorted(set(kf) - set(ko)))


@torch.no_grad()
def compare_vqvae(group, ours, off, img, g):
    f_o, f_f = ours.encode_f(img), off.quant_conv(off.encoder(img))
    record(group, 'enc.f = quant_conv(encoder(img))', f_o, f_f)
    ids_o, ids_f = ours.img_to_idxBl(img), off.img_to_idxBl(img)
    record(group, 'encoder tokens (all scales)', torch.cat(ids_o, 1), torch.cat(ids_f, 1), exact=True)
    fh_o = ours.quantize.f_to_idxBl_or_fhat(f_f, to_fhat=True)
    fh_f = off.quantize.f_to_idxBl_or_fhat(f_f, to_fhat=True)
    record(group, 'f_hat per scale (encoding)', torch.stack(fh_o), torch.stack(fh_f))
    record(group, 'f_hat per scale (idxBl_to_fhat)', torch.stack(ours.quantize.idxBl_to_fhat(ids_f)), torch.stack(fh_f))
    record(group, 'idxBl_to_var_input', ours.quantize.idxBl_to_var_input(ids_f), off.quantize.idxBl_to_var_input(ids_f))
    record(group, 'decoded pixels, encoded pyramid', ours.idxBl_to_img(ids_f, last_one=True),
           off.idxBl_to_img(ids_f, same_shape=True, last_one=True))
    rnd = [torch.randint(0, ours.V, (2, pn * pn), generator=g) for pn in ours.quantize.v_patch_nums]
    record(group, 'decoded pixels per scale, random pyramid', torch.stack(ours.idxBl_to_img(rnd, last_one=False)),
           torch.stack(off.idxBl_to_img(rnd, same_shape=True, last_one=False)))
    record(group, 'decoder pre-clamp output', ours.decoder(ours.post_quant_conv(fh_f[-1])),
           off.decoder(off.post_quant_conv(fh_f[-1])))


def official_ar_trace(ovar, off, **kw):
    """Runs the official autoregressive_infer_cfg, recording the guided logits (before the in-place top-k/top-p),
    the sampled ids and f_hat after every scale, via wrappers around the module-level sampler and the quantizer."""
    trace = []
    orig = ovar.sample_with_top_k_top_p_
    q = off.vae_quant_proxy[0]
    orig_next = q.get_next_autoregressive_input

    def sampler(logits, **k):
        trace.append(dict(logits=logits.clone()))
        idx = orig(logits, **k)
        trace[-1]['idx'] = idx[:, :, 0].clone()
        return idx

    def nxt(si, SN, f_hat, h):
        r = orig_next(si, SN, f_hat, h)
        trace[-1]['f_hat'] = r[0].clone()
        return r

    ovar.sample_with_top_k_top_p_, q.get_next_autoregressive_input = sampler, nxt
    try:
        img = off.autoregressive_infer_cfg(**kw)
    finally:
        ovar.sample_with_top_k_top_p_ = orig
        del q.get_next_autoregressive_input
    return img, trace


@torch.no_grad()
def compare_var(group, ovar, ours, off, vq_o, vq_f, labels, img):
    ids = vq_f.img_to_idxBl(img) if img is not None else [
        torch.randint(0, ours.V, (len(labels), pn * pn)) for pn in ours.patch_nums]
    x = vq_f.quantize.idxBl_to_var_input(ids)
    record(group, 'teacher-forced logits (forward)', ours(labels, x), off(labels, x))
    runs = [('greedy cfg=3', dict(cfg=3.0, top_k=1, top_p=0.0)), ('greedy cfg=1.5', dict(cfg=1.5, top_k=1, top_p=0.0)),
            ('top_k=20 top_p=0.9 cfg=2 seed 7', dict(cfg=2.0, top_k=20, top_p=0.9, g_seed=7)),
            ('more_smooth top_k=10 cfg=4 seed 3', dict(cfg=4.0, top_k=10, top_p=0.0, g_seed=3, more_smooth=True))]
    B = len(labels)
    for name, kw in runs:
        img_f, tr_f = official_ar_trace(ovar, off, B=B, label_B=labels, **kw)
        img_o, tr_o = ours.autoregressive_infer_cfg(B, labels, return_all=True, **kw)
        record(group, f'AR {name}: logits, all scales', torch.cat([t['logits'] for t in tr_o], 1),
               torch.cat([t['logits'] for t in tr_f], 1))
        record(group, f'AR {name}: tokens, all scales', torch.cat([t['idx'] for t in tr_o], 1),
               torch.cat([t['idx'] for t in tr_f], 1), exact=True)
        record(group, f'AR {name}: f_hat, all scales', torch.stack([t['f_hat'] for t in tr_o]),
               torch.stack([t['f_hat'] for t in tr_f]))
        record(group, f'AR {name}: image [0,1]', img_o, img_f)
    for name, lab in (('label None, seed 5', None), ('label -1 (null class)', -1)):
        img_f, tr_f = official_ar_trace(ovar, off, B=2, label_B=lab, g_seed=5, cfg=1.5, top_k=5)
        img_o, tr_o = ours.autoregressive_infer_cfg(2, lab, g_seed=5, cfg=1.5, top_k=5, return_all=True)
        record(group, f'AR {name}: tokens', torch.cat([t['idx'] for t in tr_o], 1),
               torch.cat([t['idx'] for t in tr_f], 1), exact=True)
        record(group, f'AR {name}: image', img_o, img_f)


def official_var(ovar, vq_f, cfg, l2):
    with contextlib.redirect_stdout(io.StringIO()):  # its constructor prints a banner
        return ovar.VAR(vae_local=vq_f, num_classes=cfg['num_classes'], depth=cfg['depth'],
                        embed_dim=cfg['embed_dim'], num_heads=cfg['num_heads'], norm_eps=1e-6, shared_aln=False,
                        cond_drop_rate=0.0, attn_l2_norm=l2, patch_nums=cfg['patch_nums'], flash_if_available=True,
                        fused_if_available=True).eval()


@torch.no_grad()
def check_fixtures(obv, ovq, ovar, d):
    """Recomputes expected.safetensors (float64 reference) with the official classes in float32 from the fixture
    weight files: tokens must be identical, floats within TOL relative, png within 1."""
    from safetensors.torch import load_file
    e = load_file(os.path.join(d, 'expected.safetensors'))
    group = 'fixtures vs official (f32)'

    def load(model, path):
        sd = {k: v.float() for k, v in load_file(path).items()}
        r = model.load_state_dict(sd, strict=False)
        assert not r.unexpected_keys and all(k.split('.')[-1] in mf.SKIP for k in r.missing_keys), r
    vq = official_vqvae(obv, ovq, mf.VQ_CFG)
    load(vq, os.path.join(d, 'vqvae.safetensors'))
    labels = torch.tensor(mf.LABELS)
    S = len(mf.PN)
    f = vq.quant_conv(vq.encoder(e['enc.img']))
    record(group, 'enc.f', f, e['enc.f'])
    ids = vq.quantize.f_to_idxBl_or_fhat(f, to_fhat=False)
    record(group, 'tf.idx.* (official encoder)', torch.cat(ids, 1), torch.cat([e[f'tf.idx.{si}'].long() for si in range(S)], 1), exact=True)
    ids = [e[f'tf.idx.{si}'].long() for si in range(S)]
    fh = vq.quantize.embed_to_fhat([vq.quantize.embedding(i).transpose(1, 2).reshape(2, -1, pn, pn)
                                    for i, pn in zip(ids, mf.PN)], all_to_max_scale=True, last_one=False)
    record(group, 'tf.fhat.*', torch.stack(fh), torch.stack([e[f'tf.fhat.{si}'] for si in range(S)]))
    record(group, 'tf.img', vq.idxBl_to_img(ids, same_shape=True, last_one=True), e['tf.img'])
    x = vq.quantize.idxBl_to_var_input(ids)
    for fn, key, l2 in (('var.safetensors', 'tf.logits', True), ('var_legacy.safetensors', 'tf_legacy.logits', False)):
        v = official_var(ovar, vq, mf.VAR_CFG, l2)
        load(v, os.path.join(d, fn))
        record(group, key, v(labels, x), e[key])
        if not l2:
            continue
        for tag, cfg in mf.CFGS.items():
            img, tr = official_ar_trace(ovar, v, B=2, label_B=labels, cfg=cfg, top_k=1, top_p=0.0, g_seed=0)
            record(group, f'greedy.{tag}.idx.*', torch.cat([t['idx'] for t in tr], 1),
                   torch.cat([e[f'greedy.{tag}.idx.{si}'].long() for si in range(S)], 1), exact=True)
            record(group, f'greedy.{tag}.logits.*', torch.cat([t['logits'] for t in tr], 1),
                   torch.cat([e[f'greedy.{tag}.logits.{si}'] for si in range(S)], 1))
            record(group, f'greedy.{tag}.img', img, e[f'greedy.{tag}.img'])
            png = torch.floor(img.double() * 255 + 0.5).clamp(0, 255).permute(0, 2, 3, 1)
            d_png = (png - e[f'greedy.{tag}.png'].double()).abs().max().item()
            ok = d_png <= 1
            RESULTS.append(dict(group=group, name=f'greedy.{tag}.png (max |diff| in levels)', max_abs_diff=d_png, ok=ok))
            print(f'  {"ok  " if ok else "FAIL"} {group:<34} {"greedy." + tag + ".png":<40} max|diff| {d_png:.0f} levels')
            if not ok:
                FAILS.append(f'{group}: png {tag}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--official', required=True, help='checkout of FoundationVision/VAR')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--fixtures', default=mf.OUT, help='also recompute this make_fixtures.py output with the official '
                    'code (default: the repo fixtures; "" to skip)')
    args = ap.parse_args()
    torch.set_num_threads(4)
    warnings.filterwarnings('ignore', category=FutureWarning)  # official torch.cuda.amp.autocast
    obv, ovq, ovar = import_official(args.official)
    import models.basic_var as obvar
    print(f'official fast paths present: flash_attn={obvar.flash_attn_func is not None}, '
          f'xformers={obvar.memory_efficient_attention is not None}, fused_mlp={obvar.fused_mlp_func is not None}')
    g = torch.Generator().manual_seed(1234)
    torch.manual_seed(0)

    # ---- VQVAE ----
    vq_cfgs = [
        ('vqvae fixture (1,2)x1 ch32 z8 V64', dict(mf.VQ_CFG), 32, 'fixture'),
        ('vqvae official shape (1,1,2,2,4)x2 ch32', dict(vocab_size=64, z_channels=8, ch=32, v_patch_nums=mf.PN), 256,
         'generic'),
        ('vqvae (1,2,2)x2 ch32 z16, qsr=2 (ticks 1/2K)', dict(vocab_size=128, z_channels=16, ch=32, ch_mult=(1, 2, 2),
                                                          num_res_blocks=2, v_patch_nums=(1, 2, 3, 4, 6, 8),
                                                          share_quant_resi=2), 32, 'generic'),
        ('vqvae qsr=0 (non-shared phi)', dict(mf.VQ_CFG, share_quant_resi=0), 32, 'generic'),
        ('vqvae qsr=1 (one shared phi)', dict(mf.VQ_CFG, share_quant_resi=1), 32, 'generic'),
        ('vqvae qsr=3, quant_resi=-0.3', dict(mf.VQ_CFG, share_quant_resi=3, quant_resi=-0.3), 32, 'generic'),
        ('vqvae quant_resi=0 (phi = identity)', dict(mf.VQ_CFG, quant_resi=0.0), 32, 'generic'),
    ]
    fixture_vq = None
    for group, cfg, side, init in vq_cfgs:
        print(group)
        off = official_vqvae(obv, ovq, cfg)
        ours = ours_vqvae.VQVAE(**cfg).eval()
        check_load(group, ours, off)
        img = mf.smooth_images(g, 2, side).float()
        if init == 'fixture':
            mf.randomize_vqvae(ours, g)
            off.load_state_dict(ours.state_dict(), strict=True)
            fixture_vq = (ours, off)
        else:
            generic_randomize(off, g)
            with torch.no_grad():  # put f on the codebook's scale so the residual quantisation is not trivial
                f = off.quant_conv(off.encoder(img))
                off.quant_conv.weight.mul_(1 / f.std())
                off.quant_conv.bias.mul_(1 / f.std())
            ours.load_state_dict(off.state_dict(), strict=True)
        compare_vqvae(group, ours, off, img, g)
        back = ours_vqvae.VQVAE(**cfg).eval()
        back.load_state_dict(off.state_dict(), strict=True)
        off.load_state_dict(back.state_dict(), strict=True)
    # the phi table of the released 10-scale / 4-phi config
    tab = [off_idx for off_idx in ours_vqvae.phi_index_table(10, 4)]
    offq = official_vqvae(obv, ovq, dict(vocab_size=64, z_channels=8, ch=32, v_patch_nums=mf.PN)).quantize
    tab_f = [[i for i, m in enumerate(offq.quant_resi.qresi_ls) if m is offq.quant_resi[si / 9]][0] for si in range(10)]
    ok = tab == tab_f == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    RESULTS.append(dict(group='phi index table', name='10 scales, 4 phis', ok=ok, ours=tab, official=tab_f))
    print(f'  {"ok  " if ok else "FAIL"} phi index table (10 scales, K=4): ours {tab}, official {tab_f}')
    if not ok:
        FAILS.append('phi table')

    # ---- VAR ----
    labels = torch.tensor([3, 7])
    var_cfgs = [
        ('var fixture d2 C64 H2 l2', dict(mf.VAR_CFG), True, 'fixture'),
        ('var fixture d2 C64 H2 legacy', dict(mf.VAR_CFG), False, 'fixture'),
        ('var d3 C128 H2 (hd64) l2', dict(mf.VAR_CFG, depth=3, embed_dim=128), True, 'generic'),
        ('var d3 C128 H2 (hd64) legacy', dict(mf.VAR_CFG, depth=3, embed_dim=128), False, 'generic'),
        ('var d2 C96 H3 l2, pn (1,2,4,8,16)', dict(mf.VAR_CFG, embed_dim=96, num_heads=3, patch_nums=(1, 2, 4, 8, 16)),
         True, 'generic-pn'),
    ]
    vq_o, vq_f = fixture_vq
    vq_pn = None
    for group, cfg, l2, init in var_cfgs:
        print(group)
        vo, vf = vq_o, vq_f
        if init == 'generic-pn':
            if vq_pn is None:
                c = dict(mf.VQ_CFG, v_patch_nums=cfg['patch_nums'])
                vf = official_vqvae(obv, ovq, c)
                vo = ours_vqvae.VQVAE(**c).eval()
                vo.load_state_dict(vq_o.state_dict(), strict=False)  # same weights, other ema_vocab_hit_SV shape
                vf.load_state_dict(vo.state_dict(), strict=True)
                vq_pn = (vo, vf)
            vo, vf = vq_pn
        off = official_var(ovar, vf, cfg, l2)
        ours = ours_var.VAR(vo, attn_l2_norm=l2, cond_drop_rate=0.0, **cfg).eval()
        check_load(group, ours, off)
        if init == 'fixture':
            ref = ours_var.VAR(vo, attn_l2_norm=True, cond_drop_rate=0.0, **cfg).eval()
            mf.randomize_var(ref, torch.Generator().manual_seed(2))
            ours.load_state_dict({k: v for k, v in ref.state_dict().items()
                                  if l2 or 'scale_mul_1H11' not in k}, strict=True)
            off.load_state_dict(ours.state_dict(), strict=True)
        else:
            generic_randomize(off, g)
            if l2:  # one head above the ln(100) clamp
                with torch.no_grad():
                    off.blocks[-1].attn.scale_mul_1H11[0, 0] = 5.0
            ours.load_state_dict(off.state_dict(), strict=True)
        compare_var(group, ovar, ours, off, vo, vf, labels, mf.smooth_images(g, 2).float() if init != 'generic-pn' else None)
        back = ours_var.VAR(vo, attn_l2_norm=l2, cond_drop_rate=0.0, **cfg).eval()
        back.load_state_dict(off.state_dict(), strict=True)
        off.load_state_dict(back.state_dict(), strict=True)

    # ---- cond_drop_rate: the official forward drops labels even in eval mode; ours only in training ----
    print('cond drop in eval')
    off = official_var(ovar, vq_f, mf.VAR_CFG, True)
    off.cond_drop_rate = 1.0
    ours = ours_var.VAR(vq_o, attn_l2_norm=True, cond_drop_rate=1.0, **mf.VAR_CFG).eval()
    mf.randomize_var(ours, torch.Generator().manual_seed(3))
    off.load_state_dict(ours.state_dict())
    ids = vq_f.img_to_idxBl(mf.smooth_images(g, 2).float())
    x = vq_f.quantize.idxBl_to_var_input(ids)
    with torch.no_grad():
        a, b = ours(torch.full((2,), 10), x), off(labels, x)
    record('documented deviation', 'official eval forward, rate 1 == ours on null', a, b)

    if args.fixtures:
        print(f'fixtures {args.fixtures}')
        check_fixtures(obv, ovq, ovar, args.fixtures)

    n_ok = sum(r['ok'] for r in RESULTS)
    print(f'\n{n_ok}/{len(RESULTS)} checks passed' + ('' if not FAILS else f'; FAILED: {FAILS}'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(RESULTS, f, indent=1)
    sys.exit(1 if FAILS else 0)


if __name__ == '__main__':
    main()
