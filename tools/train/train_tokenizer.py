"""Train a glyph tokenizer: VAR's multi-scale residual VQ-VAE (`--kind vqvae`) or FlexVAR's scalable
tokenizer (`--kind flexvqvae`), from fonts64.npz alone.

    python3 tools/train/train_tokenizer.py --kind vqvae --data devrun/fonts64.npz --out runs/vqvae --minutes 4

Loss: MSE + L1 on pixels, VQ codebook/commitment loss (beta 0.25), straight-through estimator, and dead-code
restart (every `--restart_every` steps during the first 80 % of the budget, codes unused since the last restart
are re-initialised from random encoder outputs; their AdamW moments are zeroed).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

import common
import tok_train as tk


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--kind', choices=['vqvae', 'flexvqvae'], required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--minutes', type=float, default=4.0)
    p.add_argument('--resume', action='store_true')
    p.add_argument('--init', help='start from the weights of this tokenizer checkpoint (ckpt.pt, e.g. from export.py '
                   '--unpack) where names and shapes match; fresh optimizer and LR schedule (e.g. 64 px from 32 px: '
                   'the network is fully convolutional)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--warmup', type=int, default=200)
    p.add_argument('--vocab', type=int, default=2048)
    p.add_argument('--zdim', type=int, default=32, help='Cvae (vqvae) / codebook_embed_dim (flexvqvae)')
    p.add_argument('--ch', type=int, default=32)
    p.add_argument('--ch_mult', default='1,2,2')
    p.add_argument('--res_blocks', type=int, default=2)
    p.add_argument('--restart_every', type=int, default=200)
    p.add_argument('--l1', type=float, default=1.0)
    p.add_argument('--eval_every', type=float, default=60.0, help='seconds between held-out evaluations')
    p.add_argument('--eval_n', type=int, default=512, help='held-out images per periodic eval (4x at the end)')
    p.add_argument('--limit', type=int, default=0, help='use only the first N training images (smoke tests)')
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
        torch.backends.cudnn.benchmark = True
    data = common.Glyphs(args.data, 'train', dev, args.limit)
    test = common.Glyphs(args.data, 'test', dev, 2048)
    cfg = tk.tokenizer_config(args.kind, args.vocab, args.zdim, args.ch, [int(c) for c in args.ch_mult.split(',')],
                              args.res_blocks)
    tok = tk.build(args.kind, cfg)
    tok.model.to(dev)
    model = tok.model
    n_params = sum(p.numel() for p in model.parameters())
    print(f'{args.kind}: {n_params / 1e6:.3f} M params, config {json.dumps(model.config)}', flush=True)
    if args.init and not (args.resume and os.path.exists(os.path.join(args.out, 'ckpt.pt'))):
        init_from(model, args.init, args.kind)
    opt = common.make_adamw(model, args.lr)
    run = common.Run(args.out, args)
    gen = torch.Generator().manual_seed(args.seed)
    step = 0

    def set_state(ck):
        nonlocal step
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        gen.set_state(ck['gen'])
        step = ck['step']

    run.try_resume(set_state)
    make_state = lambda: dict(model=model.state_dict(), opt=opt.state_dict(), gen=gen.get_state(), step=step,
                              kind=args.kind, config=model.config, args=vars(args), argv=sys.argv, data_sha256=data.sha256,
                              classes=data.classes)
    batches = data.sampler(args.batch, gen)
    hits = torch.zeros(args.vocab, device=dev)
    last_eval = time.time()
    t_log = time.time()
    model.train()
    while not run.done():
        idx = next(batches)
        x, _ = data.batch(idx)
        lr = common.lr_at(run.frac(), step, args.lr, args.warmup)
        for g in opt.param_groups:
            g['lr'] = lr
        with common.autocast(dev):
            out = tok.train_forward(x)
        rec_loss = 0.0
        for w, rec, target in out['recs']:
            rec, target = rec.float(), target.float()
            rec_loss = rec_loss + w * (F.mse_loss(rec, target) + args.l1 * F.l1_loss(rec, target))
        loss = rec_loss + out['vq_loss']
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        hits += out['hits']
        step += 1
        if step % args.restart_every == 0:
            n_dead = 0
            if run.frac() < 0.8:
                n_dead = tok.restart_dead(hits, out['z_samples'], opt)
            used = int((hits > 0).sum())
            hits.zero_()
            run.log(step=step, kind='restart', dead=n_dead, used=used)
        if step % 50 == 0 or step == 1:
            f = out['recs'][0]
            p = common.psnr(f[1].detach().float().clamp(-1, 1), f[2].float())
            run.log(step=step, loss=loss.item(), rec=rec_loss.item(), vq=out['vq_loss'].item(), psnr=p, lr=lr,
                    gn=gn.item())
            if time.time() - t_log > 20:
                print(f'step {step} t {run.elapsed():.0f}s loss {loss.item():.4f} psnr {p:.2f} lr {lr:.2e}', flush=True)
                t_log = time.time()
        if time.time() - last_eval > args.eval_every:
            model.eval()
            ev = tok.evaluate(test, args.eval_n)
            model.train()
            run.log(step=step, kind='eval', **ev)
            print('eval', json.dumps(ev), flush=True)
            last_eval = time.time()
        run.maybe_save(make_state)
    run.maybe_save(make_state, force=True)
    model.eval()
    ev = tok.evaluate(test, 4 * args.eval_n)
    ev.update(step=step, seconds=round(run.elapsed(), 1), params=n_params)
    run.log(kind='final', **ev)
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
    print('final', json.dumps(ev), flush=True)


def init_from(model, path, kind):
    """Copy every tensor of a tokenizer checkpoint whose name and shape match (buffers sized by the schedule, such
    as the EMA code-hit table, are left as built)."""
    ck = torch.load(path, map_location='cpu', weights_only=False)
    assert ck.get('kind', kind) == kind, f'--init is a {ck.get("kind")} checkpoint, not {kind}'
    own = model.state_dict()
    take = {k: v.to(own[k].dtype) for k, v in ck['model'].items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in ck['model'] if k not in take)
    model.load_state_dict(take, strict=False)
    print(f'init from {path}: {len(take)}/{len(own)} tensors' + (f', not copied: {skipped}' if skipped else ''),
          flush=True)


if __name__ == '__main__':
    main()
