"""Checks tools/reference/{flexvqvae,flexvar,mvar}.py against the official FlexVAR and MVAR code, on CPU, float32.

    mkdir -p /tmp/official && git clone https://github.com/jiaosiyu1999/FlexVAR /tmp/official/FlexVAR
    git clone https://github.com/CVL-UESTC/MVAR /tmp/official/MVAR
    python tools/reference/compare_official_flex_mvar.py --flexvar /tmp/official/FlexVAR --mvar /tmp/official/MVAR

Nothing of the official code is copied here: it is imported from the given folders, unmodified. Stubs stand in for
`huggingface_hub` (imported only for a mixin class) and for `natten.na2d` (CUDA-only): the stub evaluates NATTEN's
CPU-reference window rule literally (get_window_start, dilation 1: max(i - r, 0) + (i + r >= n) * (n - i - r - 1)),
one query position at a time, so it is independent of mvar.py's clamp/mask formulation. The official trainer's
`encode_var_wo_firstL` and `gen_curr_patch_nums` are taken from its trainer.py with `ast` (importing the module would
pull in logging/tensorboard deps). MVAR's training forward pads L to a multiple of 8 with fully masked rows (an xformers
hack); on CPU SDPA those rows are NaN-free only if the backend returns zeros, so the script also reports that case.
Exit status 1 if a difference exceeds the tolerance (float32: 2e-5 relative to max(|official|, 1); tokens exact).
"""
import argparse
import ast
import json
import os
import random
import sys
import types

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
TOL = 2e-5
FAILS = []


def record(group, name, a, b, exact=False):
    if exact:
        ok = torch.equal(torch.as_tensor(a), torch.as_tensor(b))
        what = 'identical' if ok else 'DIFFERENT'
        if not ok and torch.is_tensor(a) and a.shape == b.shape:
            what += f' ({(a != b).sum().item()} of {a.numel()})'
    else:
        d = (a.double() - b.double()).abs().max().item()
        ref = b.abs().max().item()
        ok = d <= TOL * max(ref, 1.0)
        what = f'max|diff| {d:.3e}  (max|official| {ref:.3g})'
    print(f'  {"ok  " if ok else "FAIL"} {group:<26} {name:<48} {what}')
    if not ok:
        FAILS.append(f'{group}: {name}')


def stub_modules():
    hub = types.ModuleType('huggingface_hub')
    hub.PyTorchModelHubMixin = type('PyTorchModelHubMixin', (), {})
    sys.modules.setdefault('huggingface_hub', hub)
    natten = types.ModuleType('natten')

    def window_start(i, n, r):  # NATTEN csrc CPU natten_commons get_window_start, dilation <= 1
        return max(i - r, 0) + (i + r >= n) * (n - i - r - 1)

    def na2d(q, k, v, kernel_size, dilation=1, scale=None):  # q, k, v: [B, H, W, heads, c]
        assert dilation == 1
        B, H, W, nh, c = q.shape
        r, out = kernel_size // 2, torch.empty_like(q)
        for i in range(H):
            si = window_start(i, H, r)
            for j in range(W):
                sj = window_start(j, W, r)
                kk = k[:, si:si + kernel_size, sj:sj + kernel_size].reshape(B, -1, nh, c)
                vv = v[:, si:si + kernel_size, sj:sj + kernel_size].reshape(B, -1, nh, c)
                a = (torch.einsum('bhc,bkhc->bhk', q[:, i, j], kk) * scale).softmax(-1)
                out[:, i, j] = torch.einsum('bhk,bkhc->bhc', a, vv)
        return out
    natten.na2d = na2d
    sys.modules['natten'] = natten


def trainer_functions(path, names):
    """Functions of the official trainer's VARTrainer, compiled from its source (no module import)."""
    tree = ast.parse(open(os.path.join(path, 'trainer.py')).read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'VARTrainer')
    ns = dict(torch=torch, F=F, random=random, List=list, Tuple=tuple, Optional=None, Union=None)
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and fn.name in names:
            fn.returns, fn.args.kwonlyargs = None, fn.args.kwonlyargs
            for a in fn.args.args:
                a.annotation = None
            exec(compile(ast.Module([fn], []), 'trainer.py', 'exec'), ns)
    return [ns[n] for n in names]


def import_official(path, modules):
    for m in [k for k in sys.modules if k == 'models' or k.startswith('models.') or k in ('dist', 'utils', 'utils.dist')]:
        del sys.modules[m]
    sys.path.insert(0, os.path.abspath(path))
    try:
        return [__import__(m, fromlist=['_']) for m in modules]
    finally:
        sys.path.pop(0)


def perturb(m, s=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * s)


def load_both_ways(group, ours, theirs):
    sd = ours.state_dict()
    theirs.load_state_dict(sd, strict=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    record(group, 'state_dict keys (order)', list(sd.keys()) == list(theirs.state_dict().keys()), True, exact=True)


class Recorder:
    """Wraps the official module's sample_with_top_k_top_p_ to record the guided logits (before filtering) and ids."""
    def __init__(self, mod):
        self.mod, self.orig, self.calls = mod, mod.sample_with_top_k_top_p_, []

    def __enter__(self):
        def rec(logits, **kw):
            raw = logits.clone()
            idx = self.orig(logits, **kw)
            self.calls.append((raw, idx[:, :, 0].clone()))
            return idx
        self.mod.sample_with_top_k_top_p_ = rec
        return self

    def __exit__(self, *a):
        self.mod.sample_with_top_k_top_p_ = self.orig


# ---------------------------------------------------------------- FlexVAR ----
def check_flexvar(path):
    import flexvar as ours_fv
    import flexvqvae as ours_vq
    from var import init_weights
    ovq, ofv = import_official(path, ['models.vq_llama', 'models.flexvar'])
    encode_var_wo_firstL, gen_curr_patch_nums = trainer_functions(path, ['encode_var_wo_firstL', 'gen_curr_patch_nums'])

    # tokenizer: the released config (ch 128, (1,1,2,2,4), z 256, V 8912 x 32) on a 128-px image, and a small one
    cfgs = [dict(name='VQ-16 released', ch=128, ch_mult=(1, 1, 2, 2, 4), nrb=2, z=256, V=8912, C=32, px=128),
            dict(name='small ch32 (1,2,2) nrb1', ch=32, ch_mult=(1, 2, 2), nrb=1, z=64, V=96, C=8, px=48)]
    for c in cfgs:
        g = f'FlexVQVAE {c["name"]}'
        print(g)
        torch.manual_seed(0)
        ours = ours_vq.FlexVQVAE(c['V'], c['C'], c['z'], c['ch'], c['ch_mult'], c['nrb'])
        perturb(ours, 0.02)
        theirs = ovq.VQModel(ovq.ModelArgs(codebook_size=c['V'], codebook_embed_dim=c['C'], z_channels=c['z'],
                                           encoder_ch_mult=list(c['ch_mult']), decoder_ch_mult=list(c['ch_mult'])))
        if c['ch'] != 128 or c['nrb'] != 2:  # VQModel hard-codes ch=128, num_res_blocks=2: official blocks, our shape
            theirs.encoder = ovq.Encoder(ch=c['ch'], ch_mult=c['ch_mult'], num_res_blocks=c['nrb'], z_channels=c['z'])
            theirs.decoder = ovq.Decoder(ch=c['ch'], ch_mult=c['ch_mult'], num_res_blocks=c['nrb'], z_channels=c['z'])
        load_both_ways(g, ours, theirs)
        ours.eval(), theirs.eval()
        img = torch.rand(2, 3, c['px'], c['px']) * 2 - 1
        with torch.no_grad():
            f_o, f_t = ours.encode_conti(img), theirs.encode_conti(img)
            record(g, 'encode_conti', f_o, f_t)
            H = f_o.shape[-1]
            for hw in [1, 2, 3, H // 2 + 1, H, (2, 3), (H, H - 1)]:
                hw2 = (hw, hw) if isinstance(hw, int) else hw
                _, _, log = theirs.quantize(F.interpolate(f_t, size=hw2, mode='area'))
                record(g, f'ids at {hw2} (trainer path)', ours.img_to_idx(img, hw2).view(-1), log[-1], exact=True)
            pns = [1, 2, 3, H]
            ms_q, _ = theirs.multi_scale_encode(img, pns)  # area BEFORE quant_conv (1x1, commutes up to rounding)
            for pn, q in zip(pns, ms_q):
                ids = ours.img_to_idx(img, pn)
                record(g, f'multi_scale_encode codes pn={pn}', ours.quantize.get_codebook_entry(ids, (2, c['C'], pn, pn)), q)
            for hw in [(1, 1), (3, 3), (2, 5), (H, H)]:
                code = torch.randint(0, c['V'], (2, hw[0] * hw[1]))
                record(g, f'decode_code {hw}', ours.decode_code(code, (2, c['C'], *hw)), theirs.decode_code(code, (2, c['C'], *hw)))
        ours.train(), theirs.train()
        theirs.quantize.codebook_used.requires_grad_(False)  # official registers a Parameter as buffer: in-place fails
        for hw in [None, (3, 3)]:
            rec_o, loss_o, _ = ours(img, hw)
            if hw is None:
                rec_t, (vq_t, commit_t, ent_t, _) = theirs(img)
            else:
                rec_t, losses = theirs(img, v_patch_nums=[hw[0]])
                rec_t, (vq_t, commit_t, ent_t, _) = rec_t[0], losses[0]
            record(g, f'train forward hw={hw}: reconstruction', rec_o, rec_t)
            record(g, f'train forward hw={hw}: codebook loss', loss_o['vq'], vq_t)
            record(g, f'train forward hw={hw}: commitment loss', loss_o['commit'], commit_t)

    # transformer: small config, the default VAR schedule buffer; several schedules
    print('FlexVAR (depth 2, C 64, 2 heads, V 96 x 32, pos 32x32)')
    torch.manual_seed(0)
    vae = ours_vq.FlexVQVAE(96, 32, 64, 32, (1, 1, 1, 1, 2), 1).eval()  # Cvae 32: the sampler hard-codes it
    perturb(vae, 0.02)
    vae_t = ovq.VQModel(ovq.ModelArgs(codebook_size=96, codebook_embed_dim=32, z_channels=64,
                                      encoder_ch_mult=[1, 1, 1, 1, 2], decoder_ch_mult=[1, 1, 1, 1, 2]))
    vae_t.encoder = ovq.Encoder(ch=32, ch_mult=(1, 1, 1, 1, 2), num_res_blocks=1, z_channels=64)
    vae_t.decoder = ovq.Decoder(ch=32, ch_mult=(1, 1, 1, 1, 2), num_res_blocks=1, z_channels=64)
    vae_t.load_state_dict(vae.state_dict(), strict=True)
    vae_t.eval()
    ours = ours_fv.FlexVAR(vae, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0)
    init_weights(ours)
    perturb(ours, 0.05)
    theirs = ofv.FlexVAR(vae_t, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0,
                         attn_l2_norm=True, flash_if_available=False, fused_if_available=False)
    g = 'FlexVAR'
    record(g, 'initial pos_1LC (sin/cos map)', ours_fv.sincos_2d(32, 32, 64), theirs.pos_1LC.data)
    load_both_ways(g, ours, theirs)
    ours.eval(), theirs.eval()
    fake = types.SimpleNamespace(vae_local=vae_t)
    img = torch.rand(2, 3, 256, 256) * 2 - 1
    label = torch.tensor([3, 7])
    rs = random.Random(5)
    schedules = [[1, 2, 3, 4, 5, 6, 8, 10, 13, 16], [1, 2, 4, 6, 10, 16]] + [ours_fv.random_schedule(rs) for _ in range(3)]
    with torch.no_grad():
        for pns in schedules:
            quant_z, gt_t = encode_var_wo_firstL(fake, img, pns)
            gt_o, x_o = ours.train_inputs(img, pns)
            record(g, f'GT tokens {pns}', gt_o, gt_t, exact=True)
            record(g, '  teacher-forcing input', x_o, quant_z)
            theirs.update_patch_related(list(pns))
            record(g, '  teacher-forced logits', ours(label, x_o, pns), theirs(label, quant_z, list(pns)))
    # random schedule draw: same Python RNG stream -> same schedules
    a, b = random.Random(11), random.Random(11)
    saved = random.random, random.sample, random.choice
    same = True
    for _ in range(2000):
        s_o = ours_fv.random_schedule(a)
        random.random, random.sample, random.choice = b.random, b.sample, b.choice
        try:
            s_t = gen_curr_patch_nums(None)
        finally:
            random.random, random.sample, random.choice = saved
        same &= s_o == s_t
    record(g, 'random_schedule == gen_curr_patch_nums (2000 draws)', same, True, exact=True)

    # sampler: greedy and seeded sampling, both CFG modes, greedy sides, invalid ids
    runs = [dict(pns=[1, 2, 3, 4, 5, 6, 8, 10, 13, 16], cfg=3.0, top_k=1, top_p=0.0, llama=False),
            dict(pns=[1, 2, 3, 5, 7, 10, 13, 16], cfg=2.5, top_k=1, top_p=0.0, llama=True),
            dict(pns=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16], cfg=2.5, top_k=20, top_p=0.9, llama=False, seed=3),
            dict(pns=[1, 2, 4, 6, 10, 16, 23], cfg=4.0, top_k=20, top_p=0.95, llama=True, seed=7),
            dict(pns=[1, 2, 4, 6, 10, 16, 20], cfg=1.5, top_k=10, top_p=0.0, llama=False, seed=0, max_pn=13,
                 invalid=torch.tensor([0, 5, 9]))]
    for r in runs:
        gs = f'FlexVAR sampler {r["pns"]} cfg {r["cfg"]} k {r["top_k"]} p {r["top_p"]} llama {r["llama"]}'
        kw = dict(g_seed=r.get('seed'), cfg=r['cfg'], top_k=r['top_k'], top_p=r['top_p'], max_pn=r.get('max_pn', 16),
                  used_llamagen_cfg=r['llama'], invalid_ids=r.get('invalid'))
        with Recorder(ofv) as rec:
            img_t = theirs.autoregressive_infer_cfg(vae_t, 2, label, r['pns'], **kw)
        img_o, trace = ours.autoregressive_infer_cfg(2, label, r['pns'], return_all=True, **kw)
        print(gs)
        dl = max((a['logits'] - b[0]).abs().max().item() for a, b in zip(trace, rec.calls))
        same = all(torch.equal(a['idx'], b[1]) for a, b in zip(trace, rec.calls))
        record('  per step', f'guided logits, {len(trace)} steps (max)', torch.tensor(dl), torch.tensor(0.0))
        record('  per step', 'ids of every step', same, True, exact=True)
        record('  image', '(official clamp +1 /2)', img_o, img_t.clamp(-1, 1).add(1).mul(0.5))


# ------------------------------------------------------------------- MVAR ----
def official_mvar_pass(m, label, x, bg, ed, na):
    """The official trainer's pass over tokens [bg, ed) (NATTEN if na). Its xformers padding rows are fully masked;
    where CPU SDPA turns them into NaN, the pass is run unpadded."""
    lt = m(label_B=label, x_BlCv_wo_first_l=x[:, max(0, bg - 1):ed - 1], L_bg=bg, L_ed=ed, using_nattn=na)
    if torch.isnan(lt).any():
        print(f'  note: official pass [{bg},{ed}) gives NaN on CPU (the -inf padding rows); unpadded pass used')
        keep = m.update_patch_related
        m.update_patch_related = lambda x_BlC, attn_bias: (x_BlC, attn_bias)
        lt = m(label_B=label, x_BlCv_wo_first_l=x[:, max(0, bg - 1):ed - 1], L_bg=bg, L_ed=ed, using_nattn=na)
        m.update_patch_related = keep
    return lt


def check_mvar(path):
    import mvar as ours_mv
    import vqvae as ours_vq
    from var import init_weights
    ovq, omv = import_official(path, ['models.vqvae', 'models.mvar'])
    print('MVAR (VQVAE ch 32 V 64 x 8; depth 2, C 64, 2 heads; VAR schedule, refine_step 8, kernel 7)')
    torch.manual_seed(0)
    vae = ours_vq.VQVAE(vocab_size=64, z_channels=8, ch=32).eval()
    perturb(vae, 0.02)
    vae_t = ovq.VQVAE(vocab_size=64, z_channels=8, ch=32, test_mode=True, share_quant_resi=4,
                      v_patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16))
    vae_t.load_state_dict(vae.state_dict(), strict=True)
    ours = ours_mv.MVAR(vae, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0)
    init_weights(ours)
    perturb(ours, 0.05)
    theirs = omv.MVAR(vae_t, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0,
                      attn_l2_norm=True, flash_if_available=False, fused_if_available=False)
    g = 'MVAR'
    record(g, 'attn_bias_for_masking (block-diagonal)', ours.attn_bias_for_masking, theirs.attn_bias_for_masking, exact=True)
    load_both_ways(g, ours, theirs)
    ours.eval(), theirs.eval()
    img = torch.rand(2, 3, 256, 256) * 2 - 1
    label = torch.tensor([3, 7])
    with torch.no_grad():
        gt = vae_t.img_to_idxBl(img)
        x_t = vae_t.quantize.idxBl_to_mvar_input(gt)
        x_o = vae.quantize.idxBl_to_var_input(vae.img_to_idxBl(img))
        record(g, 'teacher-forcing input (idxBl_to_mvar_input)', x_o, x_t)
        lo = ours(label, x_o)
        be = theirs.begin_ends
        passes = [(0, be[7][1], False), (be[8][0], be[8][1], True), (be[9][0], be[9][1], True)]  # the trainer's passes
        for bg, ed, na in passes:
            lt = official_mvar_pass(theirs, label, x_t, bg, ed, na)
            record(g, f'teacher-forced logits [{bg},{ed}) nattn={na}', lo[:, bg:ed], lt)
    for cfg, top_k, top_p, seed in [(1.0, 1, 0.0, None), (3.0, 1, 0.0, None), (2.0, 10, 0.9, 4), (1.0, 20, 0.95, 9)]:
        print(f'MVAR sampler cfg {cfg} top_k {top_k} top_p {top_p} seed {seed}')
        with Recorder(omv) as rec:
            f_t = theirs.autoregressive_infer(B=2, label_B=label, g_seed=seed, cfg=cfg, top_k=top_k, top_p=top_p)
        img_o, trace = ours.autoregressive_infer_cfg(2, label, g_seed=seed, cfg=cfg, top_k=top_k, top_p=top_p, return_all=True)
        dl = max((a['logits'] - b[0]).abs().max().item() for a, b in zip(trace, rec.calls))
        record('  per scale', 'guided logits, 10 scales (max)', torch.tensor(dl), torch.tensor(0.0))
        record('  per scale', 'ids of every scale', all(torch.equal(a['idx'], b[1]) for a, b in zip(trace, rec.calls)), True, exact=True)
        record('  f_hat', 'final f_hat', trace[-1]['f_hat'], f_t)
        record('  image', 'fhat_to_img (+1)/2', img_o, vae_t.fhat_to_img(f_t).add(1).mul(0.5))


# -------------------------------------------------- committed fixtures ----
def _load_fixture_weights(model, path):
    """A fixture weight file (F32, F16 or I8 + .qscale) into an official module, float32, strict but for the buffers
    inference ignores."""
    from safetensors.torch import load_file
    from make_fixtures import SKIP
    raw = load_file(path)
    sd = {}
    for k, v in raw.items():
        if k.endswith('.qscale') and k[:-len('.qscale')] in raw:
            continue
        s = raw.get(k + '.qscale')
        sd[k] = v.double() * s.double().view(-1, *([1] * (v.dim() - 1))) if s is not None else v.double()
    r = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    assert not r.unexpected_keys and all(k.split('.')[-1] in SKIP for k in r.missing_keys), r


def _official_generator(cls, vq, path):
    """An official FlexVAR / MVAR built from a fixture file's `config` metadata, its weights loaded, eval mode."""
    from safetensors import safe_open
    with safe_open(path, 'pt') as f:
        cfg = json.loads(f.metadata()['config'])
    m = cls(vq, num_classes=cfg['num_classes'], depth=cfg['depth'], embed_dim=cfg['embed_dim'], num_heads=cfg['num_heads'],
            cond_drop_rate=0.0, attn_l2_norm=True, flash_if_available=False, fused_if_available=False)
    _load_fixture_weights(m, path)
    return m.eval()


def _png_levels(img01, want):
    return (torch.floor(img01.double() * 255 + 0.5).clamp(0, 255).permute(0, 2, 3, 1) - want.double()).abs().max()


@torch.no_grad()
def check_fixtures(flex_path, mvar_path, d):
    """Recomputes the make_flex_mvar_fixtures.py outputs (float64 reference) with the official classes in float32
    from the fixture weight files. The official FlexVAR sampler is square-only and decodes with a hard-coded 32-channel
    code shape, so the non-square schedule is not run and the final decode gets the fixture's 8 channels."""
    import make_flex_mvar_fixtures as mff
    from safetensors.torch import load_file
    labels = torch.tensor(mff.LABELS)
    if flex_path:
        ovq, ofv = import_official(flex_path, ['models.vq_llama', 'models.flexvar'])
        (encode_var_wo_firstL,) = trainer_functions(flex_path, ['encode_var_wo_firstL'])
        fd = os.path.join(d, 'flex_tiny')
        e = load_file(os.path.join(fd, 'expected.safetensors'))
        c = mff.FVQ_CFG
        g = 'flex_tiny vs official (f32)'
        print(g)
        vq = ovq.VQModel(ovq.ModelArgs(codebook_size=c['codebook_size'], codebook_embed_dim=c['codebook_embed_dim'],
                                       z_channels=c['z_channels'], encoder_ch_mult=list(c['ch_mult']),
                                       decoder_ch_mult=list(c['ch_mult'])))
        vq.encoder = ovq.Encoder(ch=c['ch'], ch_mult=c['ch_mult'], num_res_blocks=c['num_res_blocks'], z_channels=c['z_channels'])
        vq.decoder = ovq.Decoder(ch=c['ch'], ch_mult=c['ch_mult'], num_res_blocks=c['num_res_blocks'], z_channels=c['z_channels'])
        _load_fixture_weights(vq, os.path.join(fd, 'flexvqvae.safetensors'))
        vq.eval()
        f = vq.encode_conti(e['enc.img'])
        record(g, 'enc.f', f, e['enc.f'])
        same = True
        for hw in mff.encode_sizes():
            _, _, log = vq.quantize(F.interpolate(f, size=hw, mode='area'))
            same &= torch.equal(log[-1].view(2, -1), e[f'enc.idx.{mff.hw_name(hw)}'].long())
        record(g, f'enc.idx.* ({len(mff.encode_sizes())} sizes)', same, True, exact=True)
        for hw in mff.DECODE_SIZES:
            key = f'dec.{mff.hw_name(hw)}'
            ids = e[f'enc.idx.{mff.hw_name(hw)}'].long()
            record(g, key, vq.decode_code(ids, (2, c['codebook_embed_dim'], *hw)).clamp(-1, 1), e[key])
        fv = _official_generator(ofv.FlexVAR, vq, os.path.join(fd, 'flexvar.safetensors'))
        s10 = mff.S10
        quant_z, gt = encode_var_wo_firstL(types.SimpleNamespace(vae_local=vq), e['enc.img'], s10)
        record(g, 'enc.idx of s10 (trainer encode_var_wo_firstL)', gt,
               torch.cat([e[f'enc.idx.{p}x{p}'].long() for p in s10], 1), exact=True)
        fv.update_patch_related(list(s10))
        record(g, 'tf.logits (row 0)', fv(labels, quant_z, list(s10))[:1], e['tf.logits'])

        class Decode32:  # the official sampler decodes with shape [B, 32, h, w]; the fixture codes have 8 channels
            quantize = vq.quantize

            @staticmethod
            def decode_code(idx, shape):
                return vq.decode_code(idx, [shape[0], c['codebook_embed_dim'], *shape[2:]])
        for sname, steps in mff.SCHEDULES.items():
            if any(h != w for h, w in steps):
                continue
            pns = [h for h, _ in steps]
            for mode, cf in mff.FLEX_CFGS.items():
                tag = f'{sname}.{mode}'
                with Recorder(ofv) as rec:
                    img = fv.autoregressive_infer_cfg(Decode32, 2, labels, pns, g_seed=0, cfg=cf, top_k=1, top_p=0.0,
                                                      max_pn=mff.MAX_PN, used_llamagen_cfg=mode == 'llamagen')
                record(g, f'greedy.{tag}.idx.*', torch.cat([r[1] for r in rec.calls], 1),
                       torch.cat([e[f'greedy.{tag}.idx.{si}'].long() for si in range(len(pns))], 1), exact=True)
                record(g, f'greedy.{tag}.logits.* (row 0)', torch.cat([r[0][:1] for r in rec.calls], 1),
                       torch.cat([e[f'greedy.{tag}.logits.{si}'] for si in range(len(pns))], 1))
                lv = _png_levels(img.clamp(-1, 1).add(1).mul(0.5), e[f'greedy.{tag}.png'])
                record(g, f'greedy.{tag}.png (levels, <= 1)', lv <= 1, True, exact=True)
    if mvar_path:
        ovq, omv = import_official(mvar_path, ['models.vqvae', 'models.mvar', 'models.basic_vae'])[:2]
        obv = sys.modules['models.basic_vae']
        md = os.path.join(d, 'mvar_tiny')
        e = load_file(os.path.join(md, 'expected.safetensors'))
        g = 'mvar_tiny vs official (f32)'
        print(g)
        vc = mff.VQ_CFG
        vq = ovq.VQVAE(vocab_size=vc['vocab_size'], z_channels=vc['z_channels'], ch=vc['ch'], test_mode=True,
                       v_patch_nums=vc['v_patch_nums'], share_quant_resi=4)
        dd = dict(dropout=0.0, ch=vc['ch'], z_channels=vc['z_channels'], in_channels=3, ch_mult=vc['ch_mult'],
                  num_res_blocks=vc['num_res_blocks'], using_sa=True, using_mid_sa=True)
        vq.encoder, vq.decoder = obv.Encoder(double_z=False, **dd), obv.Decoder(**dd)
        _load_fixture_weights(vq, os.path.join(d, 'var_tiny', 'vqvae.safetensors'))
        vq.eval()
        m = _official_generator(omv.MVAR, vq, os.path.join(md, 'mvar.safetensors'))
        S = len(mff.S10)
        ids = [e[f'tf.idx.{si}'].long() for si in range(S)]
        x = vq.quantize.idxBl_to_mvar_input(ids)
        be, parts = m.begin_ends, []
        for bg, ed, na in [(0, be[7][1], False), (be[8][0], be[8][1], True), (be[9][0], be[9][1], True)]:
            parts.append(official_mvar_pass(m, labels, x, bg, ed, na)[:1])
        record(g, 'tf.logits (row 0; the trainer passes 0-7, 8, 9)', torch.cat(parts, 1), e['tf.logits'])
        for tag, cf in mff.MVAR_CFGS.items():
            with Recorder(omv) as rec:
                f_hat = m.autoregressive_infer(B=2, label_B=labels, g_seed=0, cfg=cf, top_k=1, top_p=0.0)
            record(g, f'greedy.{tag}.idx.*', torch.cat([r[1] for r in rec.calls], 1),
                   torch.cat([e[f'greedy.{tag}.idx.{si}'].long() for si in range(S)], 1), exact=True)
            if f'greedy.{tag}.logits.0' in e:
                record(g, f'greedy.{tag}.logits.* (row 0)', torch.cat([r[0][:1] for r in rec.calls], 1),
                       torch.cat([e[f'greedy.{tag}.logits.{si}'] for si in range(S)], 1))
            lv = _png_levels(vq.fhat_to_img(f_hat).add(1).mul(0.5), e[f'greedy.{tag}.png'])
            record(g, f'greedy.{tag}.png (levels, <= 1)', lv <= 1, True, exact=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--flexvar', default='/tmp/official/FlexVAR')
    ap.add_argument('--mvar', default='/tmp/official/MVAR')
    ap.add_argument('--fixtures', default=os.path.join(HERE, '..', '..', 'Tests', 'EngineTests', 'Fixtures'),
                    help='also recompute the make_flex_mvar_fixtures.py outputs (flex_tiny/, mvar_tiny/) with the '
                         'official code ("" to skip)')
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    stub_modules()
    if args.flexvar:
        check_flexvar(args.flexvar)
    if args.mvar:
        check_mvar(args.mvar)
    if args.fixtures:
        check_fixtures(args.flexvar, args.mvar, args.fixtures)
    print(f'\n{len(FAILS)} failure(s)' + (': ' + '; '.join(FAILS) if FAILS else ''))
    sys.exit(1 if FAILS else 0)


if __name__ == '__main__':
    main()
