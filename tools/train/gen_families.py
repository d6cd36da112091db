"""Per-family training adapters for train_generator.py: how to build the reference model, which token targets to
pre-encode from the dataset, and the teacher-forced loss of one batch. Model classes come from tools/reference."""
import torch
import torch.nn.functional as F

import common

# FlexVAR evaluation schedules: paper Table 7, 256 px rows, for a 16x16 latent; for an 8x8
# latent (32x32 glyphs) our own analogues, ending at 8 like the paper's end at 16.
FLEX_EVAL_SCHEDULES = {
    6: (1, 2, 4, 6, 10, 16),
    7: (1, 2, 3, 5, 8, 11, 16),
    8: (1, 2, 3, 4, 6, 10, 13, 16),
    9: (1, 2, 3, 4, 5, 7, 10, 13, 16),
    10: (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
    11: (1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 16),
    12: (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16),
    13: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16),
}
FLEX_EVAL_SCHEDULES_BY_SIDE = {
    16: FLEX_EVAL_SCHEDULES,
    8: {4: (1, 2, 4, 8), 5: (1, 2, 3, 5, 8), 6: (1, 2, 3, 4, 6, 8), 7: (1, 2, 3, 4, 5, 6, 8), 8: (1, 2, 3, 4, 5, 6, 7, 8)},
}


def make(family, tok, side=16):
    return FAMILIES[family](tok, side)


def side_of(config):
    """Latent side a generator was trained for, from its recorded config."""
    if 'num_tokens' in config:
        return int(round(config['num_tokens'] ** 0.5))
    return int(config.get('patch_nums', common.PATCH_NUMS)[-1])


def rebuild(fam, config):
    """A family's model from the `config` it recorded (the reference constructor's arguments)."""
    if fam.family == 'aim':
        from aim import AiM
        return AiM(**config)
    return fam.build({k: v for k, v in config.items() if k not in ('vocab_size', 'Cvae', 'patch_nums')})


def _seq_ce(logits, target):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))


class VARFamily:
    """VAR (and the families that share its residual tokenizer and teacher-forcing input: MVAR, M-VAR).
    Targets: the 680-token pyramid [N, 680]; input: area-down(f_hat) of the next scale (idxBl_to_var_input)."""

    family = 'var'
    tokenizer_kind = 'vqvae'

    def __init__(self, tok, side=None):
        self.tok = tok
        self.vq = tok.model.quantize
        self.pn = tuple(self.vq.v_patch_nums)
        self.splits = [pn * pn for pn in self.pn]
        self.eval_splits = self.splits

    def model_class(self):
        from var import VAR
        return VAR

    def init_fn(self):
        from var import init_weights
        return init_weights

    def build(self, cfg):
        m = self.model_class()(self.tok.model, patch_nums=self.pn, **cfg)
        self.init_fn()(m)
        return m

    @torch.no_grad()
    def encode_dataset(self, images_u8, bs=256):
        out = []
        for i in range(0, images_u8.shape[0], bs):
            x = common.Glyphs.to_float(images_u8[i:i + bs])
            out.append(torch.cat(self.tok.encode(x), dim=1).to(torch.int16))
        return torch.cat(out)  # [N, 680]

    def loss(self, model, tokens, labels, rng=None):
        ids = tokens.long()
        ms = list(ids.split(self.splits, dim=1))
        with torch.no_grad(), torch.autocast(ids.device.type, enabled=False):
            x = self.vq.idxBl_to_var_input(ms, self.pn[-1])
        logits = model(labels, x)
        loss = _seq_ce(logits, ids)
        with torch.no_grad():
            acc = (logits.argmax(-1) == ids).float().mean()
        return loss, dict(acc=acc.item())

    def per_scale(self, model, tokens, labels):
        """Held-out CE per scale (teacher-forced)."""
        ids = tokens.long()
        ms = list(ids.split(self.splits, dim=1))
        with torch.autocast(ids.device.type, enabled=False):
            x = self.vq.idxBl_to_var_input(ms, self.pn[-1])
        logits = model(labels, x).float()
        ce = F.cross_entropy(logits.transpose(1, 2), ids, reduction='none')  # [B, L]
        return [round(c.mean().item(), 4) for c in ce.split(self.splits, dim=1)]


class MVARFamily(VARFamily):
    family = 'mvar'

    def model_class(self):
        from mvar import MVAR
        return MVAR


class MambaVARFamily(VARFamily):
    family = 'mambavar'

    def model_class(self):
        from mambavar import MambaVAR
        return MambaVAR

    def init_fn(self):
        from mambavar import init_weights
        return init_weights


class FlexVARFamily:
    """FlexVAR: ground-truth tokens of every side 1..16 are pre-encoded ([N, 1496], each side quantised on its own
    from the same f); every step draws a random schedule (reference `random_schedule`, the official trainer's rule),
    gathers its sides, and builds the input word_embed(bicubic(codes of step k -> side k+1))."""

    family = 'flexvar'
    tokenizer_kind = 'flexvqvae'

    def __init__(self, tok, side=16):
        self.tok = tok
        self.pn = common.patch_nums_for(side)
        # official cap: 680 tokens (= VAR's list) for 16x16; smaller latents keep every side
        self.max_tokens = 680 if side == 16 else sum(s * s for s in range(1, side + 1))
        self.sides = list(range(1, self.pn[-1] + 1))
        self.offset, o = {}, 0
        for s in self.sides:
            self.offset[s] = o
            o += s * s
        self.eval_splits = [pn * pn for pn in self.pn]

    def build(self, cfg):
        from flexvar import FlexVAR
        from var import init_weights
        m = FlexVAR(self.tok.model, patch_nums=self.pn, **cfg)
        init_weights(m)
        return m

    @torch.no_grad()
    def encode_dataset(self, images_u8, bs=256):
        out = []
        for i in range(0, images_u8.shape[0], bs):
            x = common.Glyphs.to_float(images_u8[i:i + bs])
            out.append(torch.cat(self.tok.encode(x, self.sides), dim=1).to(torch.int16))
        return torch.cat(out)  # [N, 1496]

    def _gather(self, tokens, sched):
        t = tokens.long()
        return [t[:, self.offset[s]:self.offset[s] + s * s] for s in sched]

    def _logits(self, model, tokens, labels, sched):
        ids = self._gather(tokens, sched)
        with torch.no_grad(), torch.autocast(tokens.device.type, enabled=False):
            x = model.idxBl_to_flexvar_input(ids, sched)
        return model(labels, x, list(sched)), torch.cat(ids, dim=1)

    def loss(self, model, tokens, labels, rng):
        from flexvar import random_schedule
        sched = random_schedule(rng, last=self.pn[-1], max_tokens=self.max_tokens)
        logits, ids = self._logits(model, tokens, labels, sched)
        loss = _seq_ce(logits, ids)
        with torch.no_grad():
            acc = (logits.argmax(-1) == ids).float().mean()
        return loss, dict(acc=acc.item(), steps=len(sched))

    def per_scale(self, model, tokens, labels):
        logits, ids = self._logits(model, tokens, labels, self.pn)
        ce = F.cross_entropy(logits.float().transpose(1, 2), ids, reduction='none')
        return [round(c.mean().item(), 4) for c in ce.split(self.eval_splits, dim=1)]


class AiMFamily:
    """AiM: raster-order next-token prediction over the flex tokenizer's full 16x16 code map ([N, 256]), trained
    with positions k for token k (pos_shift 0) and sampled the same way (config sample_pos_shift = 0)."""

    family = 'aim'
    tokenizer_kind = 'flexvqvae'

    def __init__(self, tok, side=16):
        self.tok = tok
        self.side = side
        self.eval_splits = [self.side * self.side // 4] * 4   # CE reported per quarter of the raster

    def build(self, cfg):
        from aim import AiM
        cfg = dict(cfg)
        kw = dict(d_model=cfg.pop('embed_dim'), n_layer=cfg.pop('depth'), num_classes=cfg.pop('num_classes'))
        cfg.pop('num_heads', None)
        cfg.pop('mlp_ratio', None)
        kw.update(cfg)
        kw.setdefault('sample_pos_shift', 0)
        return AiM(vocab_size=self.tok.model.V, num_tokens=self.side * self.side, **kw)

    @torch.no_grad()
    def encode_dataset(self, images_u8, bs=256):
        out = []
        for i in range(0, images_u8.shape[0], bs):
            x = common.Glyphs.to_float(images_u8[i:i + bs])
            out.append(self.tok.encode(x, [self.side])[0].to(torch.int16))
        return torch.cat(out)  # [N, 256]

    def loss(self, model, tokens, labels, rng=None):
        ids = tokens.long()
        logits = model(ids, labels, pos_shift=0)
        loss = _seq_ce(logits, ids)
        with torch.no_grad():
            acc = (logits.argmax(-1) == ids).float().mean()
        return loss, dict(acc=acc.item())

    def per_scale(self, model, tokens, labels):
        ids = tokens.long()
        logits = model(ids, labels, pos_shift=0).float()
        ce = F.cross_entropy(logits.transpose(1, 2), ids, reduction='none')
        return [round(c.mean().item(), 4) for c in ce.split(self.eval_splits, dim=1)]


FAMILIES = {'var': VARFamily, 'mvar': MVARFamily, 'mambavar': MambaVARFamily, 'flexvar': FlexVARFamily,
            'aim': AiMFamily}
