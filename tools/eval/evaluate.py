"""Evaluate generators with the glyph classifier: for each generator, sample >= N images per class at several
sampling settings, then report the classifier's accuracy on the requested class and the Frechet distance (FD) in
the classifier's penultimate feature space against held-out real glyphs (families unseen in training).

    python3 tools/eval/evaluate.py --data devrun/fonts64.npz --classifier runs/classifier/ckpt.pt \
        --gen var=runs/var/ckpt.pt:runs/vqvae/ckpt.pt --sweep --out runs/eval --assets assets

`--gen NAME=GEN_CKPT:TOKENIZER_CKPT` (repeatable). Generator weights go through the int8 row-wise round trip of
export.py first, so the numbers are those of the shipped file. `--sweep` first tries a small grid of settings
(fewer samples) and picks the default: the lowest FD among the settings whose accuracy is within 2 points of the
best. Then the default and cfg=1 are run with `--n` samples per class. Writes metrics.json, and with `--assets`
a samples grid (62 classes x 8) and a coarse-to-fine strip per generator.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'train'))
sys.path.insert(0, HERE)
import common  # noqa: E402
import export  # noqa: E402
import gen_families  # noqa: E402
import samplers  # noqa: E402
import tok_train  # noqa: E402
import train_classifier  # noqa: E402


def frechet(mu1, s1, mu2, s2):
    """||mu1-mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), float64 eigen-decompositions."""
    def sqrtm_psd(m):
        w, v = torch.linalg.eigh(m)
        return (v * w.clamp_min(0).sqrt()) @ v.T
    r1 = sqrtm_psd(s1)
    mid = sqrtm_psd(r1 @ s2 @ r1)
    return ((mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * torch.trace(mid)).item()


def stats(feat):
    f = feat.double()
    mu = f.mean(0)
    fc = f - mu
    return mu, fc.T @ fc / (f.shape[0] - 1)


@torch.no_grad()
def classify(net, imgs01, bs=1024):
    preds, feats = [], []
    for i in range(0, imgs01.shape[0], bs):
        x = imgs01[i:i + bs].float() * 2 - 1
        f = net.features(x)
        feats.append(f.float())
        preds.append(net.out(f).argmax(1))
    return torch.cat(preds), torch.cat(feats)


def load_generator(gen_ckpt, tok_ckpt, dev):
    tok, _ = tok_train.load(tok_ckpt, dev)
    ck = torch.load(gen_ckpt, map_location='cpu', weights_only=False)
    fam = gen_families.make(ck['family'], tok, gen_families.side_of(ck['config']))
    model = gen_families.rebuild(fam, ck['config'])
    sd = {k: v.float() if torch.is_floating_point(v) else v for k, v in ck['model'].items()}
    lin = export.linear_weight_names(model)
    for k in lin:       # int8 round trip, as shipped
        if k in sd and sd[k].ndim >= 2 and sd[k].numel() >= 4096:
            q, s = export.quantize_rowwise(sd[k])
            sd[k] = (q.float().reshape(q.shape[0], -1) * s[:, None]).reshape(q.shape)
    model.load_state_dict(sd, strict=False)
    return model.to(dev).eval(), tok, fam, ck


def run_setting(sampler, net, classes_n, n_per_class, setting, seed, real_stats, bs=620):
    labels = torch.arange(classes_n).repeat_interleave(n_per_class)
    imgs = []
    t0 = time.time()
    for i in range(0, labels.numel(), bs):
        imgs.append(sampler.sample(labels[i:i + bs], seed=seed + i, **setting).float().clamp(0, 1))
    imgs = torch.cat(imgs)
    dt = time.time() - t0
    pred, feat = classify(net, imgs)
    acc = (pred.cpu() == labels).float().mean().item()
    mu, s = stats(feat)
    fd = frechet(mu, s, *real_stats)
    return dict(setting=setting, acc=round(acc, 4), fd=round(fd, 3), n=int(labels.numel()),
                sec_per_image=round(dt / labels.numel(), 5)), imgs, labels


def save_png(arr01, path):
    from PIL import Image
    a = (np.clip(arr01, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(a).save(path, optimize=True)


def grid(imgs, labels, classes_n, per=8, pad=2):
    """columns = classes, rows = samples, white gaps."""
    H = imgs.shape[-1]
    out = np.ones((per * (H + pad) - pad, classes_n * (H + pad) - pad), np.float32)
    for c in range(classes_n):
        sel = (labels == c).nonzero().flatten()[:per]
        for r, j in enumerate(sel.tolist()):
            out[r * (H + pad):r * (H + pad) + H, c * (H + pad):c * (H + pad) + H] = imgs[j].mean(0).cpu().numpy()
    return out


def strip(rows, pad=2):
    """rows: list of lists of [3,h,w] images in [0,1] (any h); each upsampled (nearest) to 64."""
    ncol = max(len(r) for r in rows)
    H = 64
    out = np.ones((len(rows) * (H + pad) - pad, ncol * (H + pad) - pad), np.float32)
    for i, r in enumerate(rows):
        for j, im in enumerate(r):
            im = F.interpolate(im[None].float(), size=(H, H), mode='nearest')[0].mean(0).clamp(0, 1).cpu().numpy()
            out[i * (H + pad):i * (H + pad) + H, j * (H + pad):j * (H + pad) + H] = im
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--classifier', required=True)
    p.add_argument('--gen', action='append', required=True, help='NAME=GEN_CKPT:TOKENIZER_CKPT')
    p.add_argument('--n', type=int, default=20, help='samples per class for the reported settings')
    p.add_argument('--sweep', action='store_true')
    p.add_argument('--sweep_n', type=int, default=8)
    p.add_argument('--default', help='JSON setting to use instead of sweeping, e.g. {"cfg": 3, "top_k": 50}')
    p.add_argument('--out', required=True)
    p.add_argument('--assets', help='folder for the PNGs')
    p.add_argument('--no_cfg1', action='store_true', help='report the default setting only (no cfg=1 run)')
    p.add_argument('--seed', type=int, default=1234)
    p.add_argument('--device', default='auto')
    p.add_argument('--bs', type=int, default=620, help='images sampled per batch')
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--real_n', type=int, default=0, help='held-out real images for the FD reference (0 = all)')
    args = p.parse_args()
    dev = common.pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    common.seed_all(args.seed)
    os.makedirs(args.out, exist_ok=True)
    net, cls_ck = train_classifier.load(args.classifier, dev)
    test = common.Glyphs(args.data, 'test', dev, args.real_n)
    real = torch.cat([test.batch(torch.arange(i, min(i + 1024, test.n), device=dev))[0] for i in range(0, test.n, 1024)])
    pred, feat = classify(net, (real + 1) / 2)
    real_acc = (pred == test.labels).float().mean().item()
    real_stats = stats(feat)
    # FD floor: a random subset of real held-out glyphs, as many as a reported generator set, vs all of them (the
    # held-out set is ordered font by font, class by class, so the subset must be random, not every other image)
    C = len(test.classes)
    perm = torch.randperm(test.n, generator=torch.Generator().manual_seed(args.seed)).to(dev)
    fd_floor = frechet(*stats(feat[perm[:C * args.n]]), *real_stats)
    results = dict(classifier_test_acc=round(real_acc, 4), fd_real_subset_vs_all=round(fd_floor, 3),
                   fd_floor_n=min(C * args.n, test.n), real_n=test.n, generators={})
    print(json.dumps({k: v for k, v in results.items() if k != 'generators'}), flush=True)
    for spec in args.gen:
        name, paths = spec.split('=', 1)
        gck, tck = paths.split(':')
        model, tok, fam, ck = load_generator(gck, tck, dev)
        sampler = samplers.for_family(ck['family'], model, tok)
        res = dict(family=ck['family'], steps=ck.get('step'), train_seconds=round(ck.get('elapsed', 0), 1))
        if args.default:
            default = json.loads(args.default)
        elif args.sweep:
            sw = []
            for st in sampler.sweep_settings():
                r, _, _ = run_setting(sampler, net, C, args.sweep_n, st, args.seed, real_stats, args.bs)
                sw.append(r)
                print(name, 'sweep', json.dumps(r), flush=True)
            best_acc = max(r['acc'] for r in sw)
            ok = [r for r in sw if r['acc'] >= best_acc - 0.02]
            default = min(ok, key=lambda r: r['fd'])['setting']
            res['sweep'] = sw
        else:
            default = sampler.default_setting()
        res['default_setting'] = default
        reported = {'default': default} if args.no_cfg1 else {'default': default, 'cfg1': dict(default, cfg=1.0)}
        for extra_name, extra in sampler.extra_settings(default).items():
            reported[extra_name] = extra
        for key, st in reported.items():
            r, imgs, labels = run_setting(sampler, net, C, args.n, st, args.seed + 7, real_stats, args.bs)
            res[key] = r
            print(name, key, json.dumps(r), flush=True)
            if args.assets and key == 'default':
                os.makedirs(args.assets, exist_ok=True)
                save_png(grid(imgs, labels, C), os.path.join(args.assets, f'samples-{name}.png'))
        if args.assets:
            rows = sampler.coarse_to_fine(torch.tensor([test.classes.index(c) for c in 'Ag7R']), default, args.seed)
            save_png(strip(rows), os.path.join(args.assets, f'steps-{name}.png'))
        results['generators'][name] = res
        with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results), flush=True)


if __name__ == '__main__':
    main()
