"""Glyph classifier for judging generators: a small CNN trained on the real training split of fonts64.npz.
The test split holds font families the classifier never saw; its accuracy there is the ceiling a generator can
reach on "readable as the requested class" (the 62 classes include confusables: O/0, l/I/1, ...).

    python3 tools/eval/train_classifier.py --data devrun/fonts64.npz --out runs/classifier --minutes 3

Penultimate layer (`features`, 256-d) is the feature space of evaluate.py's Frechet distance.
The input is average-pooled to 32x32 first (so 32x32 and 64x64 data both work; cheap on CPU; glyph identity survives it).
Augmentation: random shift (+-4 px) and scale (0.85-1.15), so slightly off-centre samples still classify.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'train'))
import common  # noqa: E402


class GlyphNet(nn.Module):
    def __init__(self, num_classes=62, width=32, feat=256):
        super().__init__()

        def blk(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                                 nn.MaxPool2d(2))
        w = width
        self.body = nn.Sequential(blk(1, w), blk(w, 2 * w), blk(2 * w, 4 * w))  # 32 -> 4
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * w * 16, feat), nn.ReLU(True))
        self.out = nn.Linear(feat, num_classes)

    def features(self, x):
        """x [B,1|3,H,W] in [-1,1] (any H = W >= 32; pooled to 32x32) -> [B, feat]."""
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if x.shape[-1] != 32:
            x = F.adaptive_avg_pool2d(x, 32)
        return self.fc(self.body(x))

    def forward(self, x):
        return self.out(self.features(x))


def augment(x, gen=None):
    B = x.shape[0]
    s = torch.empty(B, device=x.device).uniform_(0.85, 1.15)
    t = torch.empty(B, 2, device=x.device).uniform_(-4 / 32, 4 / 32)
    theta = torch.zeros(B, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode='zeros') - 1


def load(path, device='cpu'):
    ck = torch.load(path, map_location='cpu', weights_only=False)
    net = GlyphNet(**ck['config'])
    net.load_state_dict(ck['model'])
    return net.to(device).eval(), ck


@torch.no_grad()
def accuracy(net, data, bs=1024):
    correct, per_class = 0, torch.zeros(len(data.classes), 2)
    for i in range(0, data.n, bs):
        idx = torch.arange(i, min(i + bs, data.n), device=data.images.device)
        x, y = data.batch(idx)
        p = net(x[:, :1]).argmax(1)
        correct += (p == y).sum().item()
        per_class.index_add_(0, y.cpu(), torch.stack([(p == y).float().cpu(), torch.ones_like(y).float().cpu()], 1))
    return correct / data.n, (per_class[:, 0] / per_class[:, 1].clamp_min(1)).tolist()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--minutes', type=float, default=3.0)
    p.add_argument('--batch', type=int, default=512)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--threads', type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    common.seed_all(args.seed)
    dev = common.pick_device(args.device)
    data = common.Glyphs(args.data, 'train', dev, args.limit)
    test = common.Glyphs(args.data, 'test', dev)
    cfg = dict(num_classes=len(data.classes))
    net = GlyphNet(**cfg).to(dev)
    opt = common.make_adamw(net, args.lr, wd=0.05, betas=(0.9, 0.99))
    run = common.Run(args.out, args)
    gen = torch.Generator().manual_seed(args.seed)
    step = 0

    def set_state(ck):
        nonlocal step
        net.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        gen.set_state(ck['gen'])
        step = ck['step']

    run.try_resume(set_state)
    make_state = lambda: dict(model=net.state_dict(), opt=opt.state_dict(), gen=gen.get_state(), step=step,
                              config=cfg, classes=data.classes, data_sha256=data.sha256, argv=sys.argv)
    batches = data.sampler(args.batch, gen)
    t_log = time.time()
    net.train()
    while not run.done():
        x, y = data.batch(next(batches))
        x = augment(x[:, :1])
        lr = common.lr_at(run.frac(), step, args.lr, 100, min_frac=0.02)
        for g in opt.param_groups:
            g['lr'] = lr
        with common.autocast(dev):
            loss = F.cross_entropy(net(x).float(), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            run.log(step=step, loss=loss.item(), lr=lr)
            if time.time() - t_log > 20:
                print(f'step {step} t {run.elapsed():.0f}s loss {loss.item():.4f}', flush=True)
                t_log = time.time()
        run.maybe_save(make_state)
    run.maybe_save(make_state, force=True)
    net.eval()
    acc, per = accuracy(net, test)
    tr_acc, _ = accuracy(net, common.Glyphs(args.data, 'train', dev, 4096))
    worst = sorted(zip(per, data.classes))[:8]
    ev = dict(test_acc=round(acc, 4), train_acc_4096=round(tr_acc, 4), steps=step, seconds=round(run.elapsed(), 1),
              worst_classes=[(c, round(a, 3)) for a, c in worst], per_class=[round(a, 4) for a in per])
    run.log(kind='final', **{k: v for k, v in ev.items() if k != 'per_class'})
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
    print('final', json.dumps({k: v for k, v in ev.items() if k != 'per_class'}), flush=True)


if __name__ == '__main__':
    main()
