"""Train a class-conditional generator on a trained tokenizer, from fonts64.npz alone.

    python3 tools/train/train_generator.py --family var --tokenizer runs/vqvae/ckpt.pt \
        --data devrun/fonts64.npz --out runs/var --minutes 9

The dataset is encoded to tokens once at the start (token pyramids for VAR-style families, per-scale GT tokens of
every size 1..16 for FlexVAR's random schedules, the 16x16 map for AiM). Class dropped to the null class 10 % of
the time (for CFG). AdamW (betas 0.9/0.95, wd 0.05), warm-up then cosine over the time budget, grad clip 2,
bf16 autocast on GPU, checkpoint every minute, `--resume` to continue.
"""
import argparse
import json
import os
import sys
import random
import time

import torch

import common
import gen_families
import tok_train


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--family', choices=sorted(gen_families.FAMILIES), required=True)
    p.add_argument('--tokenizer', required=True, help='tokenizer training checkpoint (ckpt.pt)')
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--minutes', type=float, default=9.0)
    p.add_argument('--resume', action='store_true')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--warmup', type=int, default=300)
    p.add_argument('--depth', type=int, default=6)
    p.add_argument('--width', type=int, default=256)
    p.add_argument('--heads', type=int, default=4)
    p.add_argument('--mlp_ratio', type=float, default=4.0)
    p.add_argument('--init', help='start from the weights of this checkpoint or exported file where names and '
                   'shapes match (e.g. MVAR from a trained VAR: the same parameter layout)')
    p.add_argument('--extra', default='{}', help='JSON of extra constructor arguments for the reference class')
    p.add_argument('--eval_every', type=float, default=60.0)
    p.add_argument('--eval_n', type=int, default=512)
    p.add_argument('--limit', type=int, default=0, help='use only the first N training images (smoke tests)')
    p.add_argument('--subset', type=int, default=0, help='train on a fixed random subset of N training images (all '
                   'classes and faces; the data is ordered by package, so --limit would keep a few packages only), '
                   'e.g. to cut the one-off encoding time of a short 64-px CPU run')
    p.add_argument('--threads', type=int, default=0)
    return p.parse_args()


def main():
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    common.seed_all(args.seed)
    dev = common.pick_device(args.device)
    if dev.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tok, tok_ck = tok_train.load(args.tokenizer, dev)
    for p in tok.model.parameters():
        p.requires_grad_(False)
    data = common.Glyphs(args.data, 'train', dev, args.limit)
    if args.subset and args.subset < data.n:
        keep = torch.randperm(data.n, generator=torch.Generator().manual_seed(args.seed))[:args.subset].sort().values
        data.images, data.labels, data.n = data.images[keep.to(dev)], data.labels[keep.to(dev)], args.subset
        print(f'subset: {data.n} training images (seed {args.seed})', flush=True)
    fam = gen_families.make(args.family, tok, data.images.shape[-1] // tok.model.downsample)
    assert tok.kind == fam.tokenizer_kind, f'{args.family} needs a {fam.tokenizer_kind} tokenizer, got {tok.kind}'
    test = common.Glyphs(args.data, 'test', dev, args.eval_n)
    t0 = time.time()
    train_tok, test_tok = encode_cached(fam, tok_ck, args, data, test, dev)
    print(f'tokens {tuple(train_tok.shape)} + {tuple(test_tok.shape)} ready in {time.time() - t0:.1f} s', flush=True)
    cfg = dict(depth=args.depth, embed_dim=args.width, num_heads=args.heads, mlp_ratio=args.mlp_ratio,
               num_classes=len(data.classes), **json.loads(args.extra))
    model = fam.build(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'{args.family}: {n_params / 1e6:.3f} M params, config {json.dumps(model.config)}', flush=True)
    if args.init and not args.resume:
        init_from(model, args.init)
    opt = common.make_adamw(model, args.lr)
    run = common.Run(args.out, args)
    gen = torch.Generator().manual_seed(args.seed)
    rng = random.Random(args.seed)
    step = seen = 0

    def set_state(ck):
        nonlocal step, seen
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        gen.set_state(ck['gen'])
        rng.setstate(ck['rng'])
        step = ck['step']
        seen = ck.get('seen', step * args.batch)

    run.try_resume(set_state)
    make_state = lambda: dict(model=model.state_dict(), opt=opt.state_dict(), gen=gen.get_state(), rng=rng.getstate(),
                              step=step, seen=seen, family=args.family, config=model.config, args=vars(args), argv=sys.argv,
                              tokenizer=os.path.abspath(args.tokenizer), tokenizer_config=tok_ck['config'],
                              data_sha256=data.sha256, classes=data.classes)
    batches = data.sampler(args.batch, gen)
    last_eval, t_log = time.time(), time.time()
    model.train()
    while not run.done():
        idx = next(batches)
        lr = common.lr_at(run.frac(), step, args.lr, args.warmup)
        for g in opt.param_groups:
            g['lr'] = lr
        try:
            with common.autocast(dev):
                loss, m = fam.loss(model, train_tok[idx], data.labels[idx], rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        except torch.OutOfMemoryError:   # GPU shared by several trainings: halve the batch and go on
            loss = m = None
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            args.batch //= 2
            assert args.batch >= 16, 'out of memory even at batch 16'
            batches = data.sampler(args.batch, gen)
            run.log(step=step, kind='oom', images_seen=seen, batch=args.batch)
            print(f'out of memory: batch -> {args.batch}', flush=True)
            continue
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        step += 1
        seen += args.batch
        if step % 25 == 0 or step == 1:
            run.log(step=step, loss=loss.item(), lr=lr, gn=gn.item(), **m)
            if time.time() - t_log > 20:
                print(f'step {step} t {run.elapsed():.0f}s loss {loss.item():.4f} {m} lr {lr:.2e}', flush=True)
                t_log = time.time()
        if time.time() - last_eval > args.eval_every:
            ev = evaluate(fam, model, test_tok, test.labels, dev)
            run.log(step=step, kind='eval', **ev)
            print('eval', json.dumps(ev), flush=True)
            last_eval = time.time()
        run.maybe_save(make_state)
    run.maybe_save(make_state, force=True)
    ev = evaluate(fam, model, test_tok, test.labels, dev)
    ev.update(step=step, seconds=round(run.elapsed(), 1), params=n_params, images_seen=seen, batch=args.batch)
    run.log(kind='final', **ev)
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
    print('final', json.dumps(ev), flush=True)


def init_from(model, path):
    """Copy every tensor of `path` (training checkpoint or exported file) whose name and shape match. When the
    schedules differ (e.g. 64 px from 32 px), the per-scale tables are resized instead of dropped: `pos_1LC`
    ([1, L, C], per-scale positional grids concatenated) keeps the block of every side the old schedule had and
    bicubic-interpolates the old largest grid for the new sides; `lvl_embed` level i takes old level
    min(i, old_levels - 1). FlexVAR's 2D position map [1, C, H, W] is bicubic-resized."""
    if path.endswith('.safetensors'):
        import export
        from safetensors import safe_open
        from safetensors.torch import load_file
        src = export.dequantize(load_file(path))
        with safe_open(path, 'pt') as f:
            meta = f.metadata() or {}
        src_cfg = json.loads(meta.get('config', '{}'))
    else:
        ck = torch.load(path, map_location='cpu', weights_only=False)
        src, src_cfg = ck['model'], ck.get('config', {})
    own = model.state_dict()
    take = {k: v.to(own[k].dtype) for k, v in src.items() if k in own and own[k].shape == v.shape}
    new_pn = tuple(getattr(model, 'patch_nums', ()) or ())
    resized = resize_scale_tables(src, own, src_cfg.get('patch_nums'), new_pn)
    take.update({k: v.to(own[k].dtype) for k, v in resized.items()})
    model.load_state_dict(take, strict=False)
    print(f'init from {path}: {len(take)}/{len(own)} tensors ({len(resized)} resized)', flush=True)


def resize_scale_tables(src, own, old_pn, new_pn):
    """Resized `pos_1LC` / `lvl_embed.weight` from the old schedule `old_pn` to `new_pn` (see init_from)."""
    import torch.nn.functional as F
    out = {}
    k = 'pos_1LC'
    if k in src and k in own and src[k].dim() == 4 and src[k].shape[:2] == own[k].shape[:2] \
            and src[k].shape != own[k].shape:
        # FlexVAR: one learnable 2D map [1, C, H, W], area-resized to every step's side, sized 2x the largest
        # side (16x16 for an 8x8 latent, 32x32 for 16x16); upsampled, its area-resize to each side is ~unchanged
        out[k] = F.interpolate(src[k].float(), size=tuple(own[k].shape[2:]), mode='bicubic', align_corners=False)
        print(f'resized {k} {tuple(src[k].shape)} -> {tuple(out[k].shape)}: bicubic', flush=True)
        return out
    if not new_pn:
        return out
    if not old_pn and 'pos_1LC' in src:   # no recorded config: the VAR prefix cut whose length matches
        L = src['pos_1LC'].shape[1]
        old_pn = next((common.patch_nums_for(s) for s in range(1, 33)
                       if sum(p * p for p in common.patch_nums_for(s)) == L), None)
    if not old_pn:
        return out
    old_pn = tuple(int(p) for p in old_pn)
    k = 'pos_1LC'
    if k in src and k in own and src[k].shape != own[k].shape and src[k].shape[1] == sum(p * p for p in old_pn):
        C = src[k].shape[-1]
        blocks = dict(zip(old_pn, src[k][0].float().split([p * p for p in old_pn], dim=0)))
        big = old_pn[-1]
        grid = blocks[big].reshape(big, big, C).permute(2, 0, 1)[None]            # [1, C, big, big]
        parts, how = [], []
        for pn in new_pn:
            if pn in blocks:
                parts.append(blocks[pn])
                how.append(f'{pn}:copy')
            else:
                g = F.interpolate(grid, size=(pn, pn), mode='bicubic', align_corners=False)
                parts.append(g[0].permute(1, 2, 0).reshape(pn * pn, C))
                how.append(f'{pn}:bicubic({big})')
        out[k] = torch.cat(parts)[None]
        print(f'resized {k} {tuple(src[k].shape)} -> {tuple(out[k].shape)}: {" ".join(how)}', flush=True)
    k = 'lvl_embed.weight'
    if k in src and k in own and src[k].shape != own[k].shape and src[k].shape[0] == len(old_pn):
        n_old = src[k].shape[0]
        pick = [min(i, n_old - 1) for i in range(own[k].shape[0])]
        out[k] = src[k].float()[pick]
        print(f'resized {k} {tuple(src[k].shape)} -> {tuple(out[k].shape)}: new level <- old level {pick}', flush=True)
    return out


def encode_cached(fam, tok_ck, args, data, test, dev):
    """Pre-encode the dataset once per (tokenizer checkpoint, target kind); cached beside the tokenizer checkpoint
    (keyed by its step and the data hash), so several generators and --resume reuse it."""
    kind = type(fam).__name__.replace('Family', '').lower()
    kind = {'mvar': 'var', 'mambavar': 'var'}.get(kind, kind)
    path = os.path.join(os.path.dirname(os.path.abspath(args.tokenizer)), f'tokens_{kind}.pt')
    key = dict(step=tok_ck.get('step'), data=data.sha256, n=data.n, test_n=test.n)
    if getattr(args, 'subset', 0):
        key['subset_seed'] = args.seed
    if os.path.exists(path):
        c = torch.load(path, map_location='cpu', weights_only=False)
        if c['key'] == key:
            return c['train'].to(dev), c['test'].to(dev)
    train_tok = fam.encode_dataset(data.images)
    test_tok = fam.encode_dataset(test.images)
    tmp = f'{path}.{os.getpid()}.tmp'
    torch.save(dict(key=key, train=train_tok.cpu(), test=test_tok.cpu()), tmp)
    os.replace(tmp, path)
    return train_tok, test_tok


@torch.no_grad()
def evaluate(fam, model, test_tok, test_labels, dev):
    model.eval()
    per, losses = None, []
    for i in range(0, test_tok.shape[0], 128):
        with common.autocast(dev):
            ps = fam.per_scale(model, test_tok[i:i + 128], test_labels[i:i + 128])
        n = min(128, test_tok.shape[0] - i)
        per = [p * n for p in ps] if per is None else [a + p * n for a, p in zip(per, ps)]
    model.train()
    per = [round(p / test_tok.shape[0], 4) for p in per]
    w = fam.eval_splits
    return dict(val_ce_per_scale=per, val_ce=round(sum(p * n for p, n in zip(per, w)) / sum(w), 4))


if __name__ == '__main__':
    main()
