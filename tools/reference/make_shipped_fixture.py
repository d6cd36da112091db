"""Greedy (top-k 1) token maps of a shipped VAR-family model, sampled by the PyTorch reference from the very
file the Swift engine loads (int8 rows dequantized the same way), for Tests/EngineTests/ShippedModelTests.swift.

    python3 tools/reference/make_shipped_fixture.py weights/glyphs-var.safetensors \
        --classes 0 10 36 --cfg 3 --out Tests/EngineTests/Fixtures/shipped/glyphs-var-greedy.json
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from var import VAR  # noqa: E402
from vqvae import VQVAE  # noqa: E402


def load(path):
    """State dict with `<name>.qscale` int8 rows dequantized, plus the metadata."""
    with safe_open(path, 'pt') as f:
        meta = f.metadata()
        raw = {k: f.get_tensor(k) for k in f.keys()}
    sd = {}
    for k, v in raw.items():
        if k.endswith('.qscale'):
            continue
        if v.dtype == torch.int8:
            s = raw[k + '.qscale'].float()
            v = v.float() * s.view(-1, *([1] * (v.dim() - 1)))
        sd[k] = v.float()
    return sd, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('--classes', type=int, nargs='+', default=[0, 10, 36])
    ap.add_argument('--cfg', type=float, default=3.0)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    gsd, gmeta = load(a.model)
    tsd, tmeta = load(os.path.join(os.path.dirname(a.model), gmeta['tokenizer']))
    vae = VQVAE(**json.loads(tmeta['config']))
    vae.load_state_dict(tsd, strict=False)
    cfg = json.loads(gmeta['config'])
    var = VAR(vae, **{k: v for k, v in cfg.items() if k not in ('vocab_size', 'Cvae')}, cond_drop_rate=0)
    missing, unexpected = var.load_state_dict(gsd, strict=False)
    assert not unexpected and all(k in ('lvl_1L', 'attn_bias_for_masking') or k.endswith('zero_k_bias') for k in missing), missing
    vae.eval(), var.eval()
    out = dict(model=os.path.basename(a.model), cfg=a.cfg, top_k=1, cases=[])
    with torch.no_grad():
        for c in a.classes:
            _, trace = var.autoregressive_infer_cfg(1, torch.tensor([c]), cfg=a.cfg, top_k=1, return_all=True)
            gaps = []
            for t in trace:
                top2 = t['logits'][0].topk(2, dim=-1).values
                gaps.append(float((top2[:, 0] - top2[:, 1]).min()))
            out['cases'].append(dict(cls=c, tokens=[t['idx'][0].tolist() for t in trace], min_gap=min(gaps)))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(out, f)
    print(a.out, [round(c['min_gap'], 5) for c in out['cases']])


if __name__ == '__main__':
    main()
