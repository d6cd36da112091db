"""VAR's multi-scale residual VQ-VAE (FoundationVision/VAR models/vqvae.py, quant.py, basic_vae.py),
re-written from the paper (Algorithms 1-2) and the official code under the official parameter names.

Generalised only where the official code hard-codes a constant: `ch_mult` (official: (1,1,2,2,4)) and
`num_res_blocks` (official: 2), so a 64x64 glyph model with a 16x16 latent uses the same code and keys.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def Normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


class Upsample2x(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode='nearest'))


class Downsample2x(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # official: asymmetric zero pad, then stride 2


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = Normalize(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = Normalize(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.C = c
        self.norm = Normalize(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)
        self.w_ratio = c ** -0.5

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) * self.w_ratio, dim=2)  # [B, HW(q), HW(k)]
        h = torch.bmm(v, w.transpose(1, 2)).reshape(B, C, H, W)
        return x + self.proj_out(h)


class _Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, z_channels, in_channels=3, using_sa=True, using_mid_sa=True):
        super().__init__()
        n = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i in range(n):
            lvl = _Level()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            cin, cout = ch * in_mult[i], ch * ch_mult[i]
            for _ in range(num_res_blocks):
                lvl.block.append(ResnetBlock(cin, cout))
                cin = cout
                if i == n - 1 and using_sa:
                    lvl.attn.append(AttnBlock(cin))
            if i != n - 1:
                lvl.downsample = Downsample2x(cin)
            self.down.append(lvl)
        self.mid = _Level()
        self.mid.block_1 = ResnetBlock(cin, cin)
        self.mid.attn_1 = AttnBlock(cin) if using_mid_sa else nn.Identity()
        self.mid.block_2 = ResnetBlock(cin, cin)
        self.norm_out = Normalize(cin)
        self.conv_out = nn.Conv2d(cin, z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, lvl in enumerate(self.down):
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn) > 0:
                    h = lvl.attn[j](h)
            if hasattr(lvl, 'downsample'):
                h = lvl.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, z_channels, out_ch=3, using_sa=True, using_mid_sa=True):
        super().__init__()
        n = len(ch_mult)
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, 1, 1)
        self.mid = _Level()
        self.mid.block_1 = ResnetBlock(cin, cin)
        self.mid.attn_1 = AttnBlock(cin) if using_mid_sa else nn.Identity()
        self.mid.block_2 = ResnetBlock(cin, cin)
        levels = []
        for i in reversed(range(n)):  # `up` is indexed by level (0 = full resolution) but runs from n-1 to 0
            lvl = _Level()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            cout = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                lvl.block.append(ResnetBlock(cin, cout))
                cin = cout
                if i == n - 1 and using_sa:
                    lvl.attn.append(AttnBlock(cin))
            if i != 0:
                lvl.upsample = Upsample2x(cin)
            levels.insert(0, lvl)
        self.up = nn.ModuleList(levels)
        self.norm_out = Normalize(cin)
        self.conv_out = nn.Conv2d(cin, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i in reversed(range(len(self.up))):
            lvl = self.up[i]
            for j, blk in enumerate(lvl.block):
                h = blk(h)
                if len(lvl.attn) > 0:
                    h = lvl.attn[j](h)
            if hasattr(lvl, 'upsample'):
                h = lvl.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Phi(nn.Conv2d):
    def __init__(self, c, quant_resi):
        super().__init__(c, c, 3, 1, 1)
        self.resi_ratio = abs(quant_resi)

    def forward(self, h):
        return h * (1 - self.resi_ratio) + super().forward(h) * self.resi_ratio


def _phi_ticks(K):
    # official: K == 4 uses 1/(3K) margins, every other K 1/(2K)
    return np.linspace(1 / 3 / K, 1 - 1 / 3 / K, K) if K == 4 else np.linspace(1 / 2 / K, 1 - 1 / 2 / K, K)


class PhiShared(nn.Module):
    """share_quant_resi == 1: one phi for every scale (key `quant_resi.qresi.*`)."""
    def __init__(self, qresi):
        super().__init__()
        self.qresi = qresi

    def index(self, at_from_0_to_1):
        return 0

    def __getitem__(self, _):
        return self.qresi


class PhiPartiallyShared(nn.Module):
    """share_quant_resi == K > 1 (released: 4): K phis picked by the nearest tick (keys `quant_resi.qresi_ls.{k}.*`)."""
    def __init__(self, phis):
        super().__init__()
        self.qresi_ls = nn.ModuleList(phis)
        self.ticks = _phi_ticks(len(phis))

    def index(self, at_from_0_to_1):
        return int(np.argmin(np.abs(self.ticks - at_from_0_to_1)))

    def __getitem__(self, at_from_0_to_1):
        return self.qresi_ls[self.index(at_from_0_to_1)]


class PhiNonShared(nn.ModuleList):
    """share_quant_resi == 0: one phi per scale (default_qresi_counts or SN of them; keys `quant_resi.{k}.*`)."""
    def __init__(self, phis):
        super().__init__(phis)
        self.ticks = _phi_ticks(len(phis))

    def index(self, at_from_0_to_1):
        return int(np.argmin(np.abs(self.ticks - at_from_0_to_1)))

    def __getitem__(self, at_from_0_to_1):
        return super().__getitem__(self.index(at_from_0_to_1))


def phi_index_table(SN, K=4):
    """Which phi each scale uses (share_quant_resi = K >= 2, or 0 with K = number of phis). float64, like numpy."""
    t = _phi_ticks(K)
    return [int(np.argmin(np.abs(t - si / (SN - 1)))) for si in range(SN)]


class VectorQuantizer2(nn.Module):
    def __init__(self, vocab_size, Cvae, v_patch_nums, quant_resi=0.5, share_quant_resi=4, beta=0.25,
                 using_znorm=False, default_qresi_counts=0):
        super().__init__()
        self.vocab_size, self.Cvae, self.v_patch_nums, self.beta = vocab_size, Cvae, tuple(v_patch_nums), beta
        self.using_znorm = using_znorm

        def make_phi():
            return Phi(Cvae, quant_resi) if abs(quant_resi) > 1e-6 else nn.Identity()

        if share_quant_resi == 0:
            self.quant_resi = PhiNonShared([make_phi() for _ in range(default_qresi_counts or len(self.v_patch_nums))])
        elif share_quant_resi == 1:
            self.quant_resi = PhiShared(make_phi())
        else:
            self.quant_resi = PhiPartiallyShared([make_phi() for _ in range(share_quant_resi)])
        self.register_buffer('ema_vocab_hit_SV', torch.zeros(len(v_patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)

    def phi(self, si):
        return self.quant_resi[si / (len(self.v_patch_nums) - 1)]

    @torch.no_grad()
    def nearest(self, z_NC):
        """Code index per row. Same float ops, in the same order, as the official code (addmm), so ties break alike."""
        E = self.embedding.weight.data
        if self.using_znorm:
            return torch.argmax(F.normalize(z_NC, dim=-1) @ F.normalize(E.T, dim=0), dim=1)
        d = torch.sum(z_NC.square(), dim=1, keepdim=True) + torch.sum(E.square(), dim=1, keepdim=False)
        d.addmm_(z_NC, E.T, alpha=-2, beta=1)
        return torch.argmin(d, dim=1)

    def f_to_idxBl_or_fhat(self, f, to_fhat):
        """Encoding: residual multi-scale quantisation. Per scale: the ids [B, pn*pn], or (to_fhat) f_hat so far."""
        B, C, H, W = f.shape
        f_rest, f_hat, out = f.detach().clone(), torch.zeros_like(f), []
        SN = len(self.v_patch_nums)
        for si, pn in enumerate(self.v_patch_nums):
            z = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != SN - 1 else f_rest
            idx = self.nearest(z.permute(0, 2, 3, 1).reshape(-1, C)).view(B, pn * pn)
            h = self.embedding(idx).transpose(1, 2).reshape(B, C, pn, pn)
            if si != SN - 1:
                h = F.interpolate(h, size=(H, W), mode='bicubic')
            h = self.phi(si)(h)
            f_hat = f_hat + h
            f_rest = f_rest - h
            out.append(f_hat.clone() if to_fhat else idx)
        return out

    def f_to_idxBl(self, f):
        """Returns (ids per scale, final f_hat)."""
        B, C, H, W = f.shape
        idx = self.f_to_idxBl_or_fhat(f, to_fhat=False)
        return idx, self.idxBl_to_fhat(idx, H)[-1]

    def idxBl_to_fhat(self, ms_idx_Bl, H=None):
        """All-to-max-scale accumulation (official embed_to_fhat, all_to_max_scale=True); f_hat after each scale."""
        H = H or self.v_patch_nums[-1]
        B, SN = ms_idx_Bl[0].shape[0], len(self.v_patch_nums)
        f_hat, out = self.embedding.weight.new_zeros(B, self.Cvae, H, H), []
        for si, idx in enumerate(ms_idx_Bl):
            pn = round(idx.shape[1] ** 0.5)
            h = self.embedding(idx).transpose(1, 2).reshape(B, self.Cvae, pn, pn)
            if si != SN - 1:
                h = F.interpolate(h, size=(H, H), mode='bicubic')
            f_hat = f_hat + self.phi(si)(h)
            out.append(f_hat)
        return out

    def idxBl_to_var_input(self, ms_idx_Bl, H=None):
        """Teacher-forcing input for VAR.forward: area_down(f_hat after scale si) to the next scale, concatenated."""
        H = H or self.v_patch_nums[-1]
        next_scales = []
        B, C, SN = ms_idx_Bl[0].shape[0], self.Cvae, len(self.v_patch_nums)
        f_hat = self.embedding.weight.new_zeros(B, C, H, H)
        for si in range(SN - 1):
            pn = self.v_patch_nums[si]
            h = self.embedding(ms_idx_Bl[si]).transpose(1, 2).reshape(B, C, pn, pn)
            f_hat = f_hat + self.phi(si)(F.interpolate(h, size=(H, H), mode='bicubic'))
            pn1 = self.v_patch_nums[si + 1]
            next_scales.append(F.interpolate(f_hat, size=(pn1, pn1), mode='area').reshape(B, C, -1).transpose(1, 2))
        return torch.cat(next_scales, dim=1)

    def get_next_autoregressive_input(self, si, SN, f_hat, h_BChw):
        """Returns (new f_hat, next stage's input map); at the last scale both are the final f_hat."""
        H = f_hat.shape[-1]
        if si != SN - 1:
            h = self.phi(si)(F.interpolate(h_BChw, size=(H, H), mode='bicubic'))
            f_hat = f_hat + h
            pn1 = self.v_patch_nums[si + 1]
            return f_hat, F.interpolate(f_hat, size=(pn1, pn1), mode='area')
        f_hat = f_hat + self.phi(si)(h_BChw)
        return f_hat, f_hat


class VQVAE(nn.Module):
    def __init__(self, vocab_size=4096, z_channels=32, ch=160, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                 v_patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), quant_resi=0.5, share_quant_resi=4,
                 using_sa=True, using_mid_sa=True, beta=0.25, using_znorm=False, default_qresi_counts=0):
        super().__init__()
        self.V, self.Cvae = vocab_size, z_channels
        self.vocab_size = vocab_size
        self.config = dict(vocab_size=vocab_size, z_channels=z_channels, ch=ch, ch_mult=list(ch_mult),
                           num_res_blocks=num_res_blocks, v_patch_nums=list(v_patch_nums), quant_resi=quant_resi,
                           share_quant_resi=share_quant_resi, using_sa=using_sa, using_mid_sa=using_mid_sa)
        if using_znorm:  # non-default options: recorded only when used
            self.config['using_znorm'] = True
        if default_qresi_counts:
            self.config['default_qresi_counts'] = default_qresi_counts
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, z_channels, using_sa=using_sa, using_mid_sa=using_mid_sa)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, z_channels, using_sa=using_sa, using_mid_sa=using_mid_sa)
        self.quantize = VectorQuantizer2(vocab_size, z_channels, v_patch_nums, quant_resi, share_quant_resi, beta,
                                         using_znorm, default_qresi_counts)
        self.quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)

    def encode_f(self, img):
        return self.quant_conv(self.encoder(img))

    def img_to_idxBl(self, img):
        return self.quantize.f_to_idxBl_or_fhat(self.encode_f(img), to_fhat=False)

    def fhat_to_img(self, f_hat):
        return self.decoder(self.post_quant_conv(f_hat)).clamp_(-1, 1)

    def idxBl_to_img(self, ms_idx_Bl, last_one=True):
        fh = self.quantize.idxBl_to_fhat(ms_idx_Bl)
        return self.fhat_to_img(fh[-1]) if last_one else [self.fhat_to_img(f) for f in fh]

    def load_state_dict(self, state_dict, strict=True, assign=False):
        # official: a file whose ema_vocab_hit_SV has another number of scales (a training statistic) still loads
        k = 'quantize.ema_vocab_hit_SV'
        if k in state_dict and state_dict[k].shape[0] != self.quantize.ema_vocab_hit_SV.shape[0]:
            state_dict = dict(state_dict)
            state_dict[k] = self.quantize.ema_vocab_hit_SV
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
