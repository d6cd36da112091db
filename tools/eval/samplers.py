"""One sampling front per family over the reference samplers, for evaluate.py: sample(labels, seed, **setting) ->
images [B,3,64,64] in [0,1]; the sweep grid; extra settings to report; and coarse-to-fine rows for the strips."""
import torch
import torch.nn.functional as F

import gen_families


class VARSampler:
    """VAR, MVAR, M-VAR: `autoregressive_infer_cfg` with VAR's CFG ramp t = cfg * si / 9 (cfg 0 = unguided)."""

    def __init__(self, model, tok):
        self.model, self.tok = model, tok
        self.dev = next(model.parameters()).device

    def default_setting(self):
        return dict(cfg=3.0, top_k=0, top_p=0.0)

    def sweep_settings(self):
        return [dict(cfg=1.5, top_k=0, top_p=0.0), dict(cfg=3.0, top_k=0, top_p=0.0), dict(cfg=5.0, top_k=0, top_p=0.0),
                dict(cfg=3.0, top_k=100, top_p=0.95)]

    def extra_settings(self, default):
        return {}

    def _run(self, labels, seed, cfg, top_k, top_p, return_all=False):
        labels = labels.to(self.dev)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.dev.type == 'cuda'):
            return self.model.autoregressive_infer_cfg(labels.numel(), labels, g_seed=seed, cfg=cfg, top_k=top_k,
                                                       top_p=top_p, return_all=return_all)

    @torch.no_grad()
    def sample(self, labels, seed, cfg, top_k=0, top_p=0.0, **_):
        return self._run(labels, seed, cfg, top_k, top_p).float()

    @torch.no_grad()
    def coarse_to_fine(self, labels, setting, seed):
        _, trace = self._run(labels, seed, setting['cfg'], setting.get('top_k', 0), setting.get('top_p', 0.0), True)
        dec = [self.tok.model.fhat_to_img(t['f_hat'].float()).add(1).mul(0.5) for t in trace]
        return [[d[i] for d in dec] for i in range(labels.numel())]


class AiMSampler:
    """AiM: raster order, one token a step, CFG u + cfg (c - u) at every step (cfg 1 = unguided)."""

    def __init__(self, model, tok):
        self.model, self.tok = model, tok
        self.dev = next(model.parameters()).device
        self.side = int(round(model.num_tokens ** 0.5))

    def default_setting(self):
        return dict(cfg=2.0, top_k=0, top_p=1.0)

    def sweep_settings(self):
        return [dict(cfg=1.5, top_k=0, top_p=1.0), dict(cfg=3.0, top_k=0, top_p=1.0), dict(cfg=5.0, top_k=0, top_p=1.0),
                dict(cfg=3.0, top_k=100, top_p=0.95)]

    def extra_settings(self, default):
        return {}

    def _tokens(self, labels, seed, cfg, top_k, top_p):
        labels = labels.to(self.dev)
        rng = torch.Generator(device=self.dev).manual_seed(seed)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.dev.type == 'cuda'):
            return self.model.generate(labels, cfg_scale=cfg, top_k=top_k, top_p=top_p, rng=rng)

    def decode(self, tokens):
        return self.tok.model.idx_to_img(tokens, self.side).float().clamp(-1, 1).add(1).mul(0.5)

    @torch.no_grad()
    def sample(self, labels, seed, cfg, top_k=0, top_p=1.0, **_):
        return self.decode(self._tokens(labels, seed, cfg, top_k, top_p))

    @torch.no_grad()
    def coarse_to_fine(self, labels, setting, seed):
        """Raster progress: after every 2 rows of tokens, the rest filled with the most frequent token."""
        toks = self._tokens(labels, seed, setting['cfg'], setting.get('top_k', 0), setting.get('top_p', 1.0))
        bg = toks.flatten().mode().values
        rows = []
        for r in range(2, self.side + 1, 2):
            t = toks.clone()
            t[:, r * self.side:] = bg
            rows.append(self.decode(t))
        return [[d[i] for d in rows] for i in range(labels.numel())]


class FlexVARSampler:
    """FlexVAR: any schedule (`steps` picks one of the paper's Table 7 schedules); VAR-style CFG ramp (eval script
    default); decode the last scale's codes. Coarse-to-fine rows decode every scale's GT-code map on its own."""

    def __init__(self, model, tok):
        self.model, self.tok = model, tok
        self.dev = next(model.parameters()).device

    def schedules(self):
        side = self.model.patch_nums[-1]
        return gen_families.FLEX_EVAL_SCHEDULES_BY_SIDE.get(side, {len(self.model.patch_nums): self.model.patch_nums})

    def schedule(self, steps):
        """Paper Table 7 for a 16x16 latent (ours for 8x8); `steps` = number of scales."""
        return self.schedules()[steps]

    def default_setting(self):
        return dict(cfg=3.0, top_k=0, top_p=0.0, steps=len(self.model.patch_nums))

    def sweep_settings(self):
        n = len(self.model.patch_nums)
        return [dict(cfg=1.5, top_k=0, top_p=0.0, steps=n), dict(cfg=3.0, top_k=0, top_p=0.0, steps=n),
                dict(cfg=5.0, top_k=0, top_p=0.0, steps=n), dict(cfg=3.0, top_k=100, top_p=0.95, steps=n)]

    def extra_settings(self, default):
        n = len(self.model.patch_nums)
        out = {f'steps{s}': dict(default, steps=s) for s in self.schedules() if s != n and
               (self.model.patch_nums[-1] != 16 or s in (6, 8, 13))}
        if self.model.patch_nums[-1] == 8:
            # Beyond the training size (FlexVAR's resolution extrapolation): 10 steps to 12x12 (48 px, 1.5x);
            # images are area-downsampled to 32 px for the classifier. (13 steps to 16x16 = 64 px ran out of time
            # here: > 5 min and 11 GB at 620 images a batch on 2 cores; the Swift CLI samples it in a second.)
            out['steps10_48px'] = dict(default, steps=10, scales=[1, 2, 3, 4, 5, 6, 7, 8, 10, 12])
        return out

    def _run(self, labels, seed, cfg, top_k, top_p, steps, return_all=False, scales=None):
        labels = labels.to(self.dev)
        sched = list(scales) if scales else self.schedule(steps)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.dev.type == 'cuda'):
            return self.model.autoregressive_infer_cfg(labels.numel(), labels, infer_patch_nums=sched, g_seed=seed,
                                                       cfg=cfg, top_k=top_k, top_p=top_p, return_all=return_all)

    @torch.no_grad()
    def sample(self, labels, seed, cfg, top_k=0, top_p=0.0, steps=None, scales=None, **_):
        img = self._run(labels, seed, cfg, top_k, top_p, steps or len(self.model.patch_nums), scales=scales).float()
        side = self.model.patch_nums[-1] * self.tok.model.downsample
        return F.interpolate(img, size=(side, side), mode='area') if img.shape[-1] != side else img

    @torch.no_grad()
    def coarse_to_fine(self, labels, setting, seed):
        rows = []
        for steps in ((6, 8, 10, 13) if self.model.patch_nums[-1] == 16 else sorted(self.schedules())):
            st = dict(setting, steps=steps)
            _, trace = self._run(labels[:1].expand(1), seed, st['cfg'], st.get('top_k', 0), st.get('top_p', 0.0),
                                 steps, True)
            rows.append([self.tok.model.idx_to_img(t['idx'], int(round(t['idx'].shape[1] ** 0.5))).float()
                         .clamp(-1, 1).add(1).mul(0.5)[0] for t in trace])
        return rows


def for_family(family, model, tok):
    return {'var': VARSampler, 'mvar': VARSampler, 'mambavar': VARSampler, 'flexvar': FlexVARSampler,
            'aim': AiMSampler}[family](model, tok)
