"""VAR's multi-scale residual VQ-VAE (FoundationVision/VAR models/vqvae.py, quant.py, basic_vae.py),
re-written from the spec in ../shared/research/var-spec.md under the official parameter names.

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


class PhiPartiallyShared(nn.Module):
    def __init__(self, phis):
        super().__init__()
        self.qresi_ls = nn.ModuleList(phis)
        K = len(phis)
        self.ticks = np.linspace(1 / 3 / K, 1 - 1 / 3 / K, K)

    def index(self, at_from_0_to_1):
        return int(np.argmin(np.abs(self.ticks - at_from_0_to_1)))

    def __getitem__(self, at_from_0_to_1):
        return self.qresi_ls[self.index(at_from_0_to_1)]


def phi_index_table(SN, K=4):
    t = np.linspace(1 / 3 / K, 1 - 1 / 3 / K, K)
    return [int(np.argmin(np.abs(t - si / (SN - 1)))) for si in range(SN)]


class VectorQuantizer2(nn.Module):
    def __init__(self, vocab_size, Cvae, v_patch_nums, quant_resi=0.5, share_quant_resi=4, beta=0.25):
        super().__init__()
        self.vocab_size, self.Cvae, self.v_patch_nums, self.beta = vocab_size, Cvae, tuple(v_patch_nums), beta
        self.quant_resi = PhiPartiallyShared([Phi(Cvae, quant_resi) for _ in range(share_quant_resi)])
        self.register_buffer('ema_vocab_hit_SV', torch.zeros(len(v_patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)

    def phi(self, si):
        return self.quant_resi[si / (len(self.v_patch_nums) - 1)]

    def nearest(self, z_NC):
        d = (z_NC.square().sum(1, keepdim=True) + self.embedding.weight.square().sum(1)
             - 2 * z_NC @ self.embedding.weight.T)
        return d.argmin(1)

    def f_to_idxBl(self, f):
        """Encoding: residual multi-scale quantisation (f_to_idxBl_or_fhat). Returns ids per scale and f_hat."""
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
            out.append(idx)
        return out, f_hat

    def idxBl_to_fhat(self, ms_idx_Bl, H):
        """All-to-max-scale accumulation; returns the f_hat after each scale."""
        B, SN = ms_idx_Bl[0].shape[0], len(self.v_patch_nums)
        f_hat, out = None, []
        for si, idx in enumerate(ms_idx_Bl):
            pn = round(idx.shape[1] ** 0.5)
            h = self.embedding(idx).transpose(1, 2).reshape(B, self.Cvae, pn, pn)
            if si != SN - 1:
                h = F.interpolate(h, size=(H, H), mode='bicubic')
            h = self.phi(si)(h)
            f_hat = h if f_hat is None else f_hat + h
            out.append(f_hat)
        return out

    def idxBl_to_var_input(self, ms_idx_Bl, H):
        """Teacher-forcing input for VAR.forward: area_down(f_hat after scale si) to the next scale, concatenated."""
        next_scales = []
        B, C, SN = ms_idx_Bl[0].shape[0], self.Cvae, len(self.v_patch_nums)
        f_hat = torch.zeros(B, C, H, H, device=ms_idx_Bl[0].device)
        for si in range(SN - 1):
            pn = self.v_patch_nums[si]
            h = self.embedding(ms_idx_Bl[si]).transpose(1, 2).reshape(B, C, pn, pn)
            f_hat = f_hat + self.phi(si)(F.interpolate(h, size=(H, H), mode='bicubic'))
            pn1 = self.v_patch_nums[si + 1]
            next_scales.append(F.interpolate(f_hat, size=(pn1, pn1), mode='area').reshape(B, C, -1).transpose(1, 2))
        return torch.cat(next_scales, dim=1)

    def get_next_autoregressive_input(self, si, SN, f_hat, h_BChw):
        H = f_hat.shape[-1]
        if si != SN - 1:
            h = self.phi(si)(F.interpolate(h_BChw, size=(H, H), mode='bicubic'))
            f_hat = f_hat + h
            pn1 = self.v_patch_nums[si + 1]
            return f_hat, F.interpolate(f_hat, size=(pn1, pn1), mode='area')
        return f_hat + self.phi(si)(h_BChw), f_hat


class VQVAE(nn.Module):
    def __init__(self, vocab_size=4096, z_channels=32, ch=160, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                 v_patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), quant_resi=0.5, share_quant_resi=4,
                 using_sa=True, using_mid_sa=True, beta=0.25):
        super().__init__()
        self.V, self.Cvae = vocab_size, z_channels
        self.config = dict(vocab_size=vocab_size, z_channels=z_channels, ch=ch, ch_mult=list(ch_mult),
                           num_res_blocks=num_res_blocks, v_patch_nums=list(v_patch_nums), quant_resi=quant_resi,
                           share_quant_resi=share_quant_resi, using_sa=using_sa, using_mid_sa=using_mid_sa)
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, z_channels, using_sa=using_sa, using_mid_sa=using_mid_sa)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, z_channels, using_sa=using_sa, using_mid_sa=using_mid_sa)
        self.quantize = VectorQuantizer2(vocab_size, z_channels, v_patch_nums, quant_resi, share_quant_resi, beta)
        self.quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)

    def encode_f(self, img):
        return self.quant_conv(self.encoder(img))

    def img_to_idxBl(self, img):
        return self.quantize.f_to_idxBl(self.encode_f(img))[0]

    def fhat_to_img(self, f_hat):
        return self.decoder(self.post_quant_conv(f_hat)).clamp_(-1, 1)

    def idxBl_to_img(self, ms_idx_Bl, last_one=True):
        H = self.quantize.v_patch_nums[-1]
        fh = self.quantize.idxBl_to_fhat(ms_idx_Bl, H)
        return self.fhat_to_img(fh[-1]) if last_one else [self.fhat_to_img(f) for f in fh]
