"""Self-test of the FlexVAR / MVAR references (CPU, random weights, small configs, float64 unless noted; ~1 min):
  1. MVAR neighbourhood attention: the brute-force mask (na_mask) and the windowed gather (what the sampler runs) agree
     on 7x7, 9x9, 13x13, 16x16 grids; every query sees exactly 49 keys; the window starts equal NATTEN's
     get_window_start formula (dilation 1) evaluated literally.
  2. MVAR: the sampler (each scale alone, windowed NA, no cache) gives the same logits as the teacher-forced single pass
     (combined mask) on the sampled tokens, with and without CFG.
  3. FlexVAR: the KV-cached sampler's guided logits == (1+t) cond - t uncond (or u + cfg (c - u)) of the teacher-forced
     masked forward on the sampled tokens; square, rectangular and greedy-side schedules; both CFG modes.
  4. FlexVAR training: random_schedule invariants; train_inputs shapes; a loss step backpropagates (float32).
  5. FlexVQVAE: any (h, w) code map decodes to (down*h, down*w); scalable_loss backpropagates into encoder, codebook
     and decoder; the straight-through estimator passes gradients to the encoder.
Run: python tools/reference/selftest_flex_mvar.py   (exit status 1 on any failure)
"""
import os
import random
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flexvar import FlexVAR, random_schedule  # noqa: E402
from flexvqvae import FlexVQVAE  # noqa: E402
from mvar import MVAR, na_mask, na_window_starts, neighborhood_attention  # noqa: E402
from var import init_weights  # noqa: E402
from vqvae import VQVAE  # noqa: E402

TOL = {torch.float64: 1e-10, torch.float32: 2e-5}
FAILS = []


def check(name, a, b, dtype=torch.float64):
    if isinstance(a, bool):
        ok, what = a == b, f'{a}'
    else:
        d = (a - b).abs().max().item()
        ref = max(b.abs().max().item(), 1e-30)
        ok, what = d <= TOL[dtype] * max(ref, 1.0), f'max|diff| {d:.3e}  (max|ref| {ref:.2f})'
    print(f'  {"ok  " if ok else "FAIL"} {name:<66} {what}')
    if not ok:
        FAILS.append(name)


def perturb(m, s=0.05):
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * s)


def test_na():
    print('MVAR neighbourhood attention')
    for n in (7, 9, 13, 16):
        r = 3
        literal = torch.tensor([max(i - r, 0) + (i + r >= n) * (n - i - r - 1) for i in range(n)])
        check(f'{n}x{n}: window starts == NATTEN get_window_start', bool(torch.equal(na_window_starts(n), literal)), True)
        m = na_mask(n)
        check(f'{n}x{n}: 49 keys per query', bool((m.sum(1) == 49).all()), True)
        q, k, v = (torch.randn(2, 3, n * n, 8, dtype=torch.float64) for _ in range(3))
        dense = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.where(m, 0., -torch.inf).double(), scale=0.7)
        check(f'{n}x{n}: dense masked == windowed', neighborhood_attention(q, k, v, n, 7, 0.7), dense)


def test_mvar():
    print('MVAR sampler == teacher-forced forward on the sampled tokens')
    torch.manual_seed(0)
    vae = VQVAE(vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 1, 2, 2, 2), num_res_blocks=1).double().eval()
    m = MVAR(vae, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0)
    init_weights(m)
    m = m.double().eval()
    perturb(m)
    label = torch.tensor([1, 4])
    for cfg in (1.0, 2.5):
        _, tr = m.autoregressive_infer_cfg(2, label, g_seed=0, cfg=cfg, top_k=8, top_p=0.9, return_all=True)
        x = vae.quantize.idxBl_to_var_input([t['idx'] for t in tr])
        with torch.no_grad():
            c = m(label, x)
            u = m(torch.full_like(label, 10), x)
        SN = len(m.patch_nums)
        for si, (bg, ed) in enumerate(m.begin_ends):
            t = cfg * si / (SN - 1)
            want = c[:, bg:ed] if cfg == 1.0 else (1 + t) * c[:, bg:ed] - t * u[:, bg:ed]
            if si in (0, 5, 8, 9):
                check(f'cfg {cfg} scale {si} (pn {m.patch_nums[si]}{", NA" if si >= 8 else ""})', tr[si]['logits'], want)


def small_flex(dtype):
    torch.manual_seed(0)
    vae = FlexVQVAE(codebook_size=48, codebook_embed_dim=8, z_channels=32, ch=32, ch_mult=(1, 1, 1, 1, 2), num_res_blocks=1)
    perturb(vae, 0.02)
    m = FlexVAR(vae, num_classes=10, depth=2, embed_dim=64, num_heads=2, cond_drop_rate=0.0)
    init_weights(m)
    perturb(m)
    return vae.to(dtype).eval(), m.to(dtype).eval()


def test_flexvar():
    print('FlexVAR KV-cached sampler == teacher-forced forward on the sampled tokens')
    vae, m = small_flex(torch.float64)
    label = torch.tensor([2, 9])
    runs = [([1, 2, 3, 4, 5, 6, 8, 10, 13, 16], 3.0, False, 16),
            ([1, 2, 3, 5, 7, 9, 12, 14, 16], 2.0, True, 16),
            ([(1, 1), (2, 2), (2, 3), (4, 6), (7, 10), (11, 16)], 2.5, False, 16),
            ([1, 2, 4, 6, 10, 16, 20], 1.5, False, 13),
            ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16], 2.5, False, 16)]  # 14 steps: ratio above 1
    for pns, cfg, llama, max_pn in runs:
        _, tr = m.autoregressive_infer_cfg(2, label, pns, g_seed=1, cfg=cfg, top_k=6, top_p=0.9, max_pn=max_pn,
                                           used_llamagen_cfg=llama, return_all=True)
        x = m.idxBl_to_flexvar_input([t['idx'] for t in tr], pns)
        with torch.no_grad():
            c, u = m(label, x, pns), m(torch.full_like(label, 10), x, pns)
        n, cur, worst, want_all, got_all = len(pns), 0, 0.0, [], []
        for si, t in enumerate(tr):
            h, w = t['hw']
            if llama:
                want = u[:, cur:cur + h * w] + cfg * (c[:, cur:cur + h * w] - u[:, cur:cur + h * w])
            else:
                tt = cfg * si / min(n - 1, 9) if max(h, w) <= max_pn else cfg
                want = (1 + tt) * c[:, cur:cur + h * w] - tt * u[:, cur:cur + h * w]
            want_all.append(want)
            got_all.append(t['logits'])
            cur += h * w
        greedy = [t['hw'] for t in tr if t['greedy']]
        check(f'{pns} cfg {cfg} llama {llama} (greedy at {greedy})', torch.cat(got_all, 1), torch.cat(want_all, 1))


def test_training():
    print('FlexVAR / FlexVQVAE training pieces (float32)')
    rng = random.Random(0)
    ok = True
    for _ in range(3000):
        s = random_schedule(rng)
        ok &= s[:2] == [1, 2] and sum(p * p for p in s) <= 680 and all(a < b for a, b in zip(s, s[1:]))
    check('random_schedule: [1, 2, ...], increasing, <= 680 tokens (3000 draws)', ok, True)
    vae, m = small_flex(torch.float32)
    img = torch.rand(2, 3, 256, 256) * 2 - 1
    pns = random_schedule(rng)
    gt, x = m.train_inputs(img, pns)
    L = sum(p * p for p in pns)
    check(f'train_inputs shapes for {pns}', tuple(gt.shape) == (2, L) and tuple(x.shape) == (2, L - 1, 8), True)
    m.train()
    logits = m(torch.tensor([1, 2]), x, pns)
    loss = F.cross_entropy(logits.reshape(-1, m.V), gt.reshape(-1), label_smoothing=0.1)
    loss.backward()
    check('FlexVAR loss backward: finite grads on pos_1LC and blocks',
          bool(torch.isfinite(m.pos_1LC.grad).all() and m.pos_1LC.grad.abs().sum() > 0
               and m.blocks[0].attn.mat_qkv.weight.grad.abs().sum() > 0), True)
    vae.train()
    for hw in [(1, 1), (3, 5), (16, 16)]:
        idx = torch.randint(0, 48, (1, hw[0] * hw[1]))
        check(f'FlexVQVAE decode {hw} -> {16 * hw[0]}x{16 * hw[1]}', tuple(vae.idx_to_img(idx, hw).shape[-2:]) == (16 * hw[0], 16 * hw[1]), True)
    total, parts = vae.scalable_loss(img[:, :, :128, :128], rng=rng)
    total.backward()
    grads = [vae.encoder.conv_in.weight.grad, vae.quantize.embedding.weight.grad, vae.decoder.conv_out.weight.grad]
    check(f'scalable_loss (small map {parts["hw"]}) backward: encoder, codebook, decoder grads',
          all(g is not None and g.abs().sum() > 0 for g in grads), True)


if __name__ == '__main__':
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    test_na()
    test_mvar()
    test_flexvar()
    test_training()
    print(f'\n{len(FAILS)} failure(s)' + (': ' + ', '.join(FAILS) if FAILS else ''))
    sys.exit(1 if FAILS else 0)
