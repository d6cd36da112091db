"""Greedy (top-k 1) token maps of a shipped model (any family), sampled by the PyTorch reference from the very file
the Swift engine loads (int8 rows dequantized the same way), for Tests/EngineTests/ShippedModelTests.swift.

    python3 tools/reference/make_shipped_fixture.py weights/glyphs-var.safetensors \
        --classes 0 10 36 --cfg 3 --out Tests/EngineTests/Fixtures/shipped/glyphs-var-greedy.json
    python3 tools/reference/make_shipped_fixture.py weights/glyphs-flexvar.safetensors --steps 4 8 ...

`tokens` holds one list per step (VAR family: per scale; FlexVAR: per scale of the schedule; AiM: one list of all
tokens in raster order). `min_gap` is the smallest top-1/top-2 logit gap met, so a reader can see how close a tie
came (float32 noise between engines is ~1e-5).
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'train'))
import gen_families  # noqa: E402
import tok_train  # noqa: E402

IGNORED_MISSING = ('lvl_1L', 'attn_bias_for_masking', 'zero_k_bias', 'mamba.lm_head.weight', 'attn.patch_nums')


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


def build(path):
    gsd, gmeta = load(path)
    tsd, tmeta = load(os.path.join(os.path.dirname(path), gmeta['tokenizer']))
    family, cfg = gmeta['family'], json.loads(gmeta['config'])
    tok = tok_train.build(tmeta['family'], tok_train.cfg_for_build(tmeta['family'], json.loads(tmeta['config'])))
    tok.model.load_state_dict(tsd, strict=False)
    fam = gen_families.make(family, tok, gen_families.side_of(cfg))
    model = gen_families.rebuild(fam, cfg)
    missing, unexpected = model.load_state_dict(gsd, strict=False)
    missing = [k for k in missing if not k.endswith(IGNORED_MISSING) and not k.startswith('vae_proxy')]
    assert not unexpected and not missing, (missing, unexpected)
    tok.model.eval(), model.eval()
    return family, model


def gap(logits):
    top2 = logits.float().topk(2, dim=-1).values
    return float((top2[..., 0] - top2[..., 1]).min())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('--classes', type=int, nargs='+', default=[0, 10, 36])
    ap.add_argument('--cfg', type=float, default=3.0)
    ap.add_argument('--steps', type=int, nargs='*', default=[], help='FlexVAR: also these step counts')
    ap.add_argument('--out', required=True)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    family, model = build(a.model)
    out = dict(model=os.path.basename(a.model), family=family, cfg=a.cfg, top_k=1, cases=[])
    with torch.no_grad():
        for c in a.classes:
            if family == 'aim':
                toks, lg = model.generate(torch.tensor([c]), cfg_scale=a.cfg, top_k=1, return_logits=True)
                out['cases'].append(dict(cls=c, tokens=[toks[0].tolist()], min_gap=gap(lg)))
                continue
            schedules = [None]
            if family == 'flexvar':
                by_steps = gen_families.FLEX_EVAL_SCHEDULES_BY_SIDE[model.patch_nums[-1]]
                schedules = [None] + [list(by_steps[s]) for s in a.steps]
            for sched in schedules:
                kw = dict(infer_patch_nums=sched) if family == 'flexvar' else {}
                _, trace = model.autoregressive_infer_cfg(1, torch.tensor([c]), cfg=a.cfg, top_k=1, return_all=True, **kw)
                case = dict(cls=c, tokens=[t['idx'][0].tolist() for t in trace], min_gap=min(gap(t['logits']) for t in trace))
                if family == 'flexvar':
                    case['scales'] = list(sched or model.patch_nums)
                out['cases'].append(case)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(out, f)
    print(a.out, [round(c['min_gap'], 5) for c in out['cases']])


if __name__ == '__main__':
    main()
