"""Self-test of the Mamba-family references (CPU, random weights, small configs; about 1 minute):
  1. mamba2.Mamba2: token-by-token `step` == full-sequence chunked `forward` == per-scale segments with carried
     (conv_state, ssm_state), float64 and float32; ngroups 1/2, D_has_hdim, chunk sizes that do / don't divide L.
  2. mambavar.MambaVAR: teacher-forced `forward` == scale-by-scale carried-state loop == released-code style
     "re-run Mamba over all cached tokens" loop; the sampler in both modes gives identical logits and tokens.
  3. aim.AiM: full-sequence `forward` == one-token `step` loop, both position conventions, adaLN and adaLN-group;
     CFG logits of `generate` == u + cfg (c - u) from two teacher-forced passes.
Run: python tools/reference/selftest_mamba.py   (exit status 1 on any failure)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aim import AiM  # noqa: E402
from mamba2 import Mamba2, ssd_chunked  # noqa: E402
from mambavar import MambaVAR, init_weights  # noqa: E402
from vqvae import VQVAE  # noqa: E402

TOL = {torch.float64: 1e-10, torch.float32: 2e-5}   # relative to max |reference|
FAILS = []


def check(name, a, b, dtype):
    d = (a - b).abs().max().item()
    ref = max(b.abs().max().item(), 1e-30)
    ok = d <= TOL[dtype] * max(ref, 1.0)
    print(f'  {"ok  " if ok else "FAIL"} {name:<58} {str(dtype)[6:]:<8} max|diff| {d:.3e}  (max|ref| {ref:.2f})')
    if not ok:
        FAILS.append(name)


def perturb(m, s=0.05):
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * s)


def test_mamba2():
    print('Mamba2: step == chunked == per-scale carried state')
    patch_nums = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    segs = [pn * pn for pn in patch_nums]
    L = sum(segs)
    for cfg in (dict(ngroups=1, chunk_size=64), dict(ngroups=2, chunk_size=48), dict(ngroups=1, chunk_size=256, D_has_hdim=True)):
        for dtype in (torch.float64, torch.float32):
            torch.manual_seed(0)
            m = Mamba2(64, d_state=16, headdim=16, **cfg).to(dtype)
            perturb(m, 0.1)
            u = torch.randn(2, L, 64, dtype=dtype)
            with torch.no_grad():
                y_rec, c_rec, s_rec = m.forward_recurrent(u)
                y_full = m(u)
                conv, ssm = m.allocate_inference_cache(2)
                outs, s = [], 0
                for n in segs:
                    o, conv, ssm = m(u[:, s:s + n], conv, ssm, return_final_states=True)
                    outs.append(o)
                    s += n
                y_seg = torch.cat(outs, 1)
            tag = ','.join(f'{k}={v}' for k, v in cfg.items())
            check(f'chunked vs recurrence [{tag}]', y_full, y_rec, dtype)
            check(f'per-scale carried vs recurrence [{tag}]', y_seg, y_rec, dtype)
            check(f'final ssm_state carried vs recurrence [{tag}]', ssm, s_rec, dtype)
            check(f'final conv_state carried vs recurrence [{tag}]', conv, c_rec, dtype)
    # exact gradients of the chunked scan (incl. the carried initial state): torch.autograd.gradcheck, float64
    torch.manual_seed(0)
    b, l, h, p, n, g = 1, 11, 4, 2, 3, 2
    args = (torch.randn(b, l, h, p, dtype=torch.float64, requires_grad=True),
            (torch.rand(b, l, h, dtype=torch.float64) * 0.5 + 0.05).requires_grad_(),
            (-torch.rand(h, dtype=torch.float64) - 0.2).requires_grad_(),
            torch.randn(b, l, g, n, dtype=torch.float64, requires_grad=True),
            torch.randn(b, l, g, n, dtype=torch.float64, requires_grad=True))
    D = torch.randn(h, dtype=torch.float64, requires_grad=True)
    S0 = torch.randn(b, h, p, n, dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(lambda x, dt, A, B, C, D, S0: ssd_chunked(x, dt, A, B, C, 4, D, S0), args + (D, S0))
    print(f'  {"ok  " if ok else "FAIL"} gradcheck of ssd_chunked (chunk 4, L 11, 2 groups, initial state)')
    if not ok:
        FAILS.append('ssd gradcheck')
    # gradients flow through the chunked form
    m = Mamba2(64, d_state=16, headdim=16)
    u = torch.randn(2, 100, 64, requires_grad=True)
    m(u).square().mean().backward()
    ok = all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters()) and torch.isfinite(u.grad).all()
    print(f'  {"ok  " if ok else "FAIL"} backward through chunked form: all grads finite')
    if not ok:
        FAILS.append('mamba2 backward')


def test_mambavar():
    print('M-VAR: teacher-forced == carried-state scale loop == re-run-over-cache loop')
    torch.manual_seed(0)
    pns = (1, 2, 3, 4, 6, 8)
    vae = VQVAE(vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 2), num_res_blocks=1, v_patch_nums=pns,
                using_sa=False, using_mid_sa=False)
    for l2 in (False, True):
        m = MambaVAR(vae, num_classes=10, depth=3, embed_dim=128, num_heads=2, patch_nums=pns, attn_l2_norm=l2,
                     d_state=16, headdim=32, chunk_size=32)
        init_weights(m)
        perturb(m)
        m.eval()
        for dtype in (torch.float64, torch.float32):
            m.to(dtype)
            vae.to(dtype)
            lab = torch.tensor([1, 5, 10])
            x = torch.randn(3, m.L - 1, 8, dtype=dtype)
            with torch.no_grad():
                a = m(lab, x)
                b = m.forward_incremental(lab, x)
                c = m.forward_incremental(lab, x, recompute=True)
            check(f'carried-state loop vs teacher-forced [l2={l2}]', b, a, dtype)
            check(f're-run-over-cache loop vs teacher-forced [l2={l2}]', c, a, dtype)
        m.float()
        vae.float()
        with torch.no_grad():
            for tk in (1, 0):
                i1, t1 = m.autoregressive_infer_cfg(2, torch.tensor([3, 4]), g_seed=1, cfg=2.0, top_k=tk, top_p=0.9 if tk == 0 else 0.0, return_all=True)
                i2, t2 = m.autoregressive_infer_cfg(2, torch.tensor([3, 4]), g_seed=1, cfg=2.0, top_k=tk, top_p=0.9 if tk == 0 else 0.0, recompute=True, return_all=True)
                same = all(torch.equal(p['idx'], q['idx']) for p, q in zip(t1, t2))
                check(f'sampler carried vs re-run logits [l2={l2}, top_k={tk}]', torch.cat([p['logits'].flatten() for p in t1]),
                      torch.cat([q['logits'].flatten() for q in t2]), torch.float32)
                print(f'  {"ok  " if same else "FAIL"} sampler carried vs re-run: identical tokens at every scale')
                if not same:
                    FAILS.append('mvar sampler tokens')


def test_aim():
    print('AiM: full-sequence forward == one-token step loop')
    for grp in (False, True):
        torch.manual_seed(0)
        m = AiM(d_model=128, n_layer=3, vocab_size=100, num_classes=10, num_tokens=64, adaln_group=grp,
                num_groups=2, d_state=16, headdim=32, chunk_size=16)
        perturb(m)
        m.eval()
        code = torch.randint(0, 100, (2, 64))
        lab = torch.tensor([3, 7])
        for dtype in (torch.float64, torch.float32):
            m.to(dtype)
            for sh in (0, 1):
                with torch.no_grad():
                    a = m(code, lab, pos_shift=sh)
                    st = m.init_states(2)
                    b = torch.stack([m.step(None if j == 0 else code[:, j - 1], lab, st, j, pos_shift=sh)
                                     for j in range(64)], 1)
                check(f'step loop vs forward [adaln_group={grp}, pos_shift={sh}]', b, a, dtype)
        m.float()
        with torch.no_grad():
            _, lg = m.generate(lab, cfg_scale=3.0, teacher=code, return_logits=True)
            c = m(code, lab, pos_shift=1)
            u = m(code, torch.full_like(lab, 10), pos_shift=1)
        check(f'generate CFG logits vs u+cfg(c-u) [adaln_group={grp}]', lg, u + 3.0 * (c - u), torch.float32)


if __name__ == '__main__':
    torch.set_num_threads(min(8, torch.get_num_threads()))
    test_mamba2()
    test_mambavar()
    test_aim()
    print('FAILED: ' + ', '.join(FAILS) if FAILS else 'all passed')
    sys.exit(1 if FAILS else 0)
