"""Training-time wrappers around the reference tokenizers (tools/reference): the straight-through quantisation
pass with its VQ loss, dead-code restart, held-out PSNR per scale, and dataset pre-encoding for the generators.
The networks themselves are the reference classes, unchanged, so their state_dicts carry the official names."""
import torch
import torch.nn.functional as F

import common  # noqa: F401  (puts tools/reference on sys.path)

RESTART_SAMPLES = 8192


def _nograd_autocast(x):
    return torch.autocast(x.device.type, enabled=False)


def _sample_rows(z_NC, n):
    if z_NC.shape[0] > n:
        z_NC = z_NC[torch.randint(0, z_NC.shape[0], (n,), device=z_NC.device)]
    return z_NC.detach().float()


class _Base:
    def restart_dead(self, hits, z_samples, opt):
        """Re-initialise codes with no hits since the last restart from random encoder outputs."""
        emb = self.codebook()
        dead = (hits == 0).nonzero().flatten()
        if dead.numel() == 0 or z_samples.shape[0] == 0:
            return 0
        pick = z_samples[torch.randint(0, z_samples.shape[0], (dead.numel(),), device=z_samples.device)]
        pick = pick + 0.01 * pick.std() * torch.randn_like(pick)
        with torch.no_grad():
            emb.weight.data[dead] = pick.to(emb.weight.dtype)
        st = opt.state.get(emb.weight, {})
        for k in ('exp_avg', 'exp_avg_sq'):
            if k in st:
                st[k][dead] = 0
        return int(dead.numel())


class VQVAETok(_Base):
    """VAR's residual multi-scale VQ-VAE. Training pass = the official VectorQuantizer2.forward: per scale,
    quantise area-down(f_rest), f_hat += phi(bicubic-up(code)), VQ loss averaged over scales, straight-through."""

    kind = 'vqvae'

    def __init__(self, cfg):
        from vqvae import VQVAE
        self.model = VQVAE(**cfg)
        self.pn = self.model.quantize.v_patch_nums

    def codebook(self):
        return self.model.quantize.embedding

    def train_forward(self, img):
        m, q = self.model, self.model.quantize
        f = m.encode_f(img)
        with torch.autocast(img.device.type, enabled=False):
            f = f.float()
            B, C, H, W = f.shape
            f_ng = f.detach()
            f_rest, f_hat = f_ng.clone(), torch.zeros_like(f_ng)
            vq_loss, hits, zs = 0.0, torch.zeros(q.vocab_size, device=f.device), []
            SN = len(self.pn)
            for si, pn in enumerate(self.pn):
                z = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != SN - 1 else f_rest
                z_NC = z.permute(0, 2, 3, 1).reshape(-1, C)
                idx = q.nearest(z_NC)
                hits += torch.bincount(idx, minlength=q.vocab_size).float()
                zs.append(_sample_rows(z_NC, RESTART_SAMPLES // SN + 1))
                h = q.embedding(idx).view(B, pn, pn, C).permute(0, 3, 1, 2)
                if si != SN - 1:
                    h = F.interpolate(h, size=(H, W), mode='bicubic')
                h = q.phi(si)(h)
                f_hat = f_hat + h
                f_rest = f_rest - h.detach()
                vq_loss = vq_loss + F.mse_loss(f_hat.detach(), f) * q.beta + F.mse_loss(f_hat, f_ng)
            vq_loss = vq_loss / SN
            f_st = (f_hat.detach() - f_ng) + f
        rec = m.decoder(m.post_quant_conv(f_st))
        return dict(recs=[(1.0, rec, img)], vq_loss=vq_loss, hits=hits, z_samples=torch.cat(zs))

    @torch.no_grad()
    def encode(self, img):
        """-> list of [B, pn*pn] token ids per scale (the VAR pyramid)."""
        with torch.autocast(img.device.type, enabled=False):
            return self.model.img_to_idxBl(img.float())

    @torch.no_grad()
    def latents_and_decodes(self, img):
        """f_hat after every scale and its decode (the preview fit's data)."""
        m = self.model
        fh = m.quantize.idxBl_to_fhat(m.img_to_idxBl(img), self.pn[-1])
        return fh, [m.fhat_to_img(f) for f in fh]

    @torch.no_grad()
    def evaluate(self, test, n):
        m = self.model
        ps, used = [[] for _ in self.pn], torch.zeros(m.V, dtype=torch.bool, device=test.images.device)
        for i in range(0, min(n, test.n), 256):
            x, _ = test.batch(torch.arange(i, min(i + 256, n, test.n), device=test.images.device))
            with torch.autocast(x.device.type, enabled=False):
                ids = m.img_to_idxBl(x)
                for t in ids:
                    used[t.flatten()] = True
                recs = m.idxBl_to_img(ids, last_one=False)
            for si, r in enumerate(recs):
                ps[si].append(common.psnr(r, x) * x.shape[0])
        cnt = min(n, test.n)
        per = [round(sum(p) / cnt, 3) for p in ps]
        return dict(psnr=per[-1], psnr_per_scale=per, codes_used=int(used.sum()))


class FlexTok(_Base):
    """FlexVAR's scalable tokenizer (tools/reference/flexvqvae.py). Training pass with the paper's multi-scale
    constraint (Sec. 3.3, K random scales): f is area-downsampled to `k_scales - 1` random smaller sizes plus the
    full one, each map is quantised on its own by the reference quantizer (l2-normalised codes, straight-through,
    codebook + beta * commitment loss), decoded, and compared with the image area-downsampled to the decoded size.
    The full-scale reconstruction carries half the weight, the small ones share the other half."""

    kind = 'flexvqvae'

    def __init__(self, cfg, k_scales=4):
        from flexvqvae import FlexVQVAE
        self.model = FlexVQVAE(**cfg)
        self.k_scales = k_scales

    def codebook(self):
        return self.model.quantize.embedding

    def train_forward(self, img):
        m = self.model
        f = m.encode_conti(img)
        H = f.shape[-1]
        others = (torch.randperm(H - 1)[:self.k_scales - 1] + 1).tolist()   # fresh random sizes in 1..H-1
        scales = [H] + sorted(others)
        recs, vq_loss, hits, zs = [], 0.0, torch.zeros(m.V, device=f.device), []
        for j, pn in enumerate(scales):
            with torch.autocast(img.device.type, enabled=False):
                fk = f.float()
                if pn != H:
                    fk = F.interpolate(fk, size=(pn, pn), mode='area')
                z_q, losses, idx = m.quantize(fk)
            hits += torch.bincount(idx.flatten(), minlength=m.V).float()
            zs.append(_sample_rows(F.normalize(fk.permute(0, 2, 3, 1).reshape(-1, fk.shape[1]), dim=-1),
                                   RESTART_SAMPLES // len(scales)))
            vq_loss = vq_loss + (losses['vq'] + losses['commit'] + losses.get('entropy', 0.0)) / len(scales)
            rec = m.decode(z_q)
            target = F.interpolate(img, size=rec.shape[-2:], mode='area') if pn != H else img
            w = 0.5 if j == 0 else 0.5 / (len(scales) - 1)
            recs.append((w, rec, target))
        return dict(recs=recs, vq_loss=vq_loss, hits=hits, z_samples=torch.cat(zs))

    @torch.no_grad()
    def encode(self, img, scales=None):
        """-> list of [B, pn*pn] GT token ids, one per scale in `scales` (each quantised on its own)."""
        with torch.autocast(img.device.type, enabled=False):
            return self.model.img_to_idxBl(img.float(), list(scales or self.schedule(img)))

    def schedule(self, img):
        return common.patch_nums_for(img.shape[-1] // self.model.downsample)

    @torch.no_grad()
    def latents_and_decodes(self, img):
        """Code vectors (l2-normalised) of every scale and their decodes (the preview fit's data)."""
        m = self.model
        lat, dec = [], []
        pns = self.schedule(img)
        for pn, idx in zip(pns, m.img_to_idxBl(img, list(pns))):
            lat.append(m.quantize.get_codebook_entry(idx, (idx.shape[0], m.Cvae, pn, pn)))
            dec.append(m.idx_to_img(idx, pn))
        return lat, dec

    @torch.no_grad()
    def evaluate(self, test, n):
        m = self.model
        pns = common.patch_nums_for(test.images.shape[-1] // m.downsample)
        ps, ps_up = [[] for _ in pns], [[] for _ in pns]
        used = torch.zeros(m.V, dtype=torch.bool, device=test.images.device)
        for i in range(0, min(n, test.n), 256):
            x, _ = test.batch(torch.arange(i, min(i + 256, n, test.n), device=test.images.device))
            with torch.autocast(x.device.type, enabled=False):
                ids = m.img_to_idxBl(x, list(pns))
                for si, (pn, t) in enumerate(zip(pns, ids)):
                    used[t.flatten()] = True
                    r = m.idx_to_img(t, pn).clamp(-1, 1)
                    tgt = F.interpolate(x, size=r.shape[-2:], mode='area')
                    ps[si].append(common.psnr(r, tgt) * x.shape[0])
                    up = F.interpolate(r, size=x.shape[-2:], mode='bilinear', align_corners=False)
                    ps_up[si].append(common.psnr(up, x) * x.shape[0])
        cnt = min(n, test.n)
        per = [round(sum(p) / cnt, 3) for p in ps]
        per_up = [round(sum(p) / cnt, 3) for p in ps_up]
        return dict(psnr=per[-1], psnr_per_scale=per, psnr_per_scale_upsampled=per_up, codes_used=int(used.sum()))


def tokenizer_config(kind, vocab, zdim, ch, ch_mult, res_blocks):
    """Constructor arguments of the reference class from train_tokenizer's flags."""
    if kind == 'vqvae':
        return dict(vocab_size=vocab, z_channels=zdim, ch=ch, ch_mult=tuple(ch_mult), num_res_blocks=res_blocks,
                    v_patch_nums=common.PATCH_NUMS)
    return dict(codebook_size=vocab, codebook_embed_dim=zdim, z_channels=ch * ch_mult[-1], ch=ch,
                ch_mult=tuple(ch_mult), num_res_blocks=res_blocks)


def build(kind, cfg):
    return VQVAETok(cfg) if kind == 'vqvae' else FlexTok(cfg)


def load(path, device='cpu'):
    """A tokenizer from a training checkpoint (ckpt.pt) -> wrapper with .model in eval mode."""
    ck = torch.load(path, map_location='cpu', weights_only=False)
    cfg = dict(ck['config'])
    tok = build(ck['kind'], cfg_for_build(ck['kind'], cfg))
    tok.model.load_state_dict(ck['model'])
    tok.model.to(device).eval()
    return tok, ck


def load_from_config(config, kind):
    """A tokenizer wrapper with random weights (enough to build a generator's module tree)."""
    return build(kind, cfg_for_build(kind, dict(config)))


def cfg_for_build(kind, config):
    if kind == 'vqvae':
        keep = ('vocab_size', 'z_channels', 'ch', 'ch_mult', 'num_res_blocks', 'v_patch_nums', 'quant_resi',
                'share_quant_resi', 'using_sa', 'using_mid_sa')
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in keep}
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()}
