"""Shared plumbing for the training scripts: data, seeds, time-budgeted LR schedule, checkpoints, JSONL log.

Every script trains for a wall-clock budget (`--minutes`); the LR schedule (linear warm-up, cosine to `min_lr_frac`)
runs on the fraction of that budget already spent, so a run ends annealed whatever the hardware. `elapsed` is saved
in the checkpoint, so `--resume` (optionally with a larger `--minutes`) continues the same schedule.
"""
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tools', 'reference'))

# VAR's 10-scale schedule for 64x64 glyphs (16x16 latent); a CPU-only run trains 32x32 glyphs (8x8 latent) with
# SCALEWISE_PATCH_NUMS=1,2,3,4,5,6,8.
PATCH_NUMS = tuple(int(x) for x in os.environ.get('SCALEWISE_PATCH_NUMS', '1,2,3,4,5,6,8,10,13,16').split(','))


def patch_nums_for(side):
    """VAR's schedule cut to a latent of `side` (16 -> the 10-step list, 8 -> 1,2,3,4,5,6,8)."""
    return tuple(p for p in (1, 2, 3, 4, 5, 6, 8, 10, 13, 16) if p < side) + (side,)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def pick_device(arg='auto'):
    if arg != 'auto':
        return torch.device(arg)
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def sha256_file(path, _cache={}):
    if path not in _cache:
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        _cache[path] = h.hexdigest()
    return _cache[path]


class Glyphs:
    """fonts64.npz on the device as uint8; batches come out as [B,3,64,64] floats in [-1,1] (gray replicated)."""

    def __init__(self, path, split='train', device='cpu', limit=0):
        d = np.load(path)
        self.classes = [str(c) for c in d['classes']]
        imgs, labels = d[f'{split}_images'], d[f'{split}_labels']
        if limit:
            imgs, labels = imgs[:limit], labels[:limit]
        self.images = torch.from_numpy(np.ascontiguousarray(imgs)).to(device)      # [N,64,64] uint8
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64)).to(device)
        self.n = len(self.labels)
        self.device = device
        self.sha256 = sha256_file(path)

    @staticmethod
    def to_float(u8):
        x = u8.float().div_(127.5).sub_(1.0).unsqueeze(1)
        return x.expand(-1, 3, -1, -1).contiguous()

    def batch(self, idx):
        return self.to_float(self.images[idx]), self.labels[idx]

    def sampler(self, batch_size, gen):
        """Endless random batches (epoch-wise permutation) from a seeded torch.Generator (CPU)."""
        while True:
            perm = torch.randperm(self.n, generator=gen)
            for i in range(0, self.n - batch_size + 1, batch_size):
                yield perm[i:i + batch_size].to(self.device)


def lr_at(frac, step, peak, warmup_steps=200, min_frac=0.1):
    """Linear warm-up over `warmup_steps`, times a cosine from 1 to `min_frac` over the time budget."""
    w = min(1.0, (step + 1) / warmup_steps)
    return peak * w * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def make_adamw(model, lr, wd=0.05, betas=(0.9, 0.95)):
    """AdamW; no weight decay on biases, norms, embeddings' 1-D params and per-head scales."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and 'scale_mul' not in n and 'pos_' not in n else no_decay).append(p)
    kw = dict(fused=True) if torch.cuda.is_available() and next(model.parameters()).is_cuda else {}
    return torch.optim.AdamW([{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}],
                             lr=lr, betas=betas, **kw)


class Run:
    """Output folder: ckpt.pt (resumable, every `save_every` s), log.jsonl, args.json."""

    def __init__(self, out, args, save_every=60.0):
        os.makedirs(out, exist_ok=True)
        self.out, self.args, self.save_every = out, args, save_every
        self.ckpt_path = os.path.join(out, 'ckpt.pt')
        self.log_f = open(os.path.join(out, 'log.jsonl'), 'a')
        self.t0 = time.time()
        self.elapsed0 = 0.0
        self.last_save = time.time()
        with open(os.path.join(out, 'args.json'), 'w') as f:
            json.dump(dict(vars(args), argv=sys.argv), f, indent=1)

    def elapsed(self):
        return self.elapsed0 + time.time() - self.t0

    def frac(self):
        return min(1.0, self.elapsed() / (60.0 * self.args.minutes))

    def done(self):
        return self.elapsed() >= 60.0 * self.args.minutes

    def log(self, **kw):
        kw = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in kw.items()}
        kw['t'] = round(self.elapsed(), 1)
        self.log_f.write(json.dumps(kw) + '\n')
        self.log_f.flush()

    def try_resume(self, state_setter):
        if getattr(self.args, 'resume', False) and os.path.exists(self.ckpt_path):
            ck = torch.load(self.ckpt_path, map_location='cpu', weights_only=False)
            state_setter(ck)
            self.elapsed0 = ck['elapsed']
            self.t0 = time.time()
            print(f'resumed {self.ckpt_path} at step {ck["step"]}, {ck["elapsed"]:.0f} s', flush=True)
            return ck
        return None

    def maybe_save(self, make_state, force=False):
        if force or time.time() - self.last_save >= self.save_every:
            st = make_state()
            st['elapsed'] = self.elapsed()
            tmp = self.ckpt_path + '.tmp'
            torch.save(st, tmp)
            os.replace(tmp, self.ckpt_path)
            self.last_save = time.time()


def autocast(device):
    if device.type == 'cuda':
        return torch.autocast('cuda', dtype=torch.bfloat16)
    return torch.autocast('cpu', dtype=torch.bfloat16)


def psnr(a, b):
    """a, b in [-1,1]; PSNR over the [0,1] range, per image, averaged."""
    mse = ((a - b) * 0.5).square().flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean().item()
