"""FlexVAR's scalable tokenizer (jiaosiyu1999/FlexVAR models/vq_llama.py = LlamaGen VQ-16), re-written from the paper
(§3.3) and the official code under the official parameter names. Training-capable.

One code map of ANY size (h, w) decodes to an image of (down*h, down*w) pixels, down = 2**(len(ch_mult)-1):
  encode: f = quant_conv(encoder(img)) [B, Cvae, H, W];  f_k = area-resize(f -> h x w);
          code = argmin_v |l2n(f_k) - l2n(e_v)|^2  (= argmax cosine);      no residual, no phi, no f_hat.
  decode: decoder(post_quant_conv(l2n(e)[code]))                           (no clamp; range ~[-1, 1]).
Keys: encoder.conv_in, encoder.conv_blocks.{l}.res.{j}.{norm1,conv1,norm2,conv2,nin_shortcut},
      encoder.conv_blocks.{l}.attn.{j}.{norm,q,k,v,proj_out} (last level only), encoder.conv_blocks.{l}.downsample.conv,
      encoder.mid.{0,1,2} (res, attn, res), encoder.norm_out, encoder.conv_out; the decoder likewise with the level
      order REVERSED (decoder.conv_blocks.0 = the deepest level, ... .upsample.conv), quant_conv (1x1 z->Cvae),
      post_quant_conv (1x1 Cvae->z), quantize.embedding.weight, quantize.codebook_used (usage statistic buffer).
Training: `forward` (one scale) and `scalable_loss` (the full map AND a random area-downsampled map, each decoded and
compared with the image area-downsampled to the matching size, so every scale decodes on its own). Losses: pixel
reconstruction + codebook (||sg(z) - z_q||^2) + beta * commitment (||z - sg(z_q)||^2) with the straight-through
estimator, optional entropy (usage) loss; perceptual / GAN losses of LlamaGen's full recipe are left to the trainer.
"""
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqvae import Downsample2x, Normalize, Upsample2x  # same keys and ops as LlamaGen's


def swish(x):  # LlamaGen's nonlinearity: x * sigmoid(x) (F.silu differs from it in the last bits)
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = Normalize(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = Normalize(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv2(swish(self.norm2(self.conv1(swish(self.norm1(x))))))
        return (self.nin_shortcut(x) if hasattr(self, 'nin_shortcut') else x) + h


class AttnBlock(nn.Module):
    """LlamaGen/taming attention: separate 1x1 q, k, v convs, scores scaled by C^-0.5, residual."""
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q, self.k, self.v = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        q, k, v = (m(h).reshape(B, C, H * W) for m in (self.q, self.k, self.v))
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) * C ** -0.5, dim=2)  # [B, HW(q), HW(k)]
        return x + self.proj_out(torch.bmm(v, w.transpose(1, 2)).reshape(B, C, H, W))


def _level(cin, cout, n_res, attn, resample):
    lvl = nn.Module()
    lvl.res, lvl.attn = nn.ModuleList(), nn.ModuleList()
    for _ in range(n_res):
        lvl.res.append(ResnetBlock(cin, cout))
        cin = cout
        if attn:
            lvl.attn.append(AttnBlock(cout))
    if resample is not None:
        setattr(lvl, resample[0], resample[1](cout))
    return lvl


def _run_level(lvl, h):
    for j, blk in enumerate(lvl.res):
        h = blk(h)
        if len(lvl.attn) > 0:
            h = lvl.attn[j](h)
    return h


class Encoder(nn.Module):
    def __init__(self, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256, in_channels=3):
        super().__init__()
        n = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_mult = (1,) + tuple(ch_mult)
        self.conv_blocks = nn.ModuleList([
            _level(ch * in_mult[i], ch * ch_mult[i], num_res_blocks, attn=i == n - 1,
                   resample=('downsample', Downsample2x) if i != n - 1 else None) for i in range(n)])
        c = ch * ch_mult[-1]
        self.mid = nn.ModuleList([ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)])
        self.norm_out = Normalize(c)
        self.conv_out = nn.Conv2d(c, z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for lvl in self.conv_blocks:
            h = _run_level(lvl, h)
            if hasattr(lvl, 'downsample'):
                h = lvl.downsample(h)
        for m in self.mid:
            h = m(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    """conv_blocks[0] is the deepest (lowest-resolution) level: the order of execution, not of resolution."""
    def __init__(self, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256, out_channels=3):
        super().__init__()
        n = len(ch_mult)
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, 3, 1, 1)
        self.mid = nn.ModuleList([ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)])
        self.conv_blocks = nn.ModuleList()
        for i in reversed(range(n)):
            self.conv_blocks.append(_level(c, ch * ch_mult[i], num_res_blocks + 1, attn=i == n - 1,
                                           resample=('upsample', Upsample2x) if i != 0 else None))
            c = ch * ch_mult[i]
        self.norm_out = Normalize(c)
        self.conv_out = nn.Conv2d(c, out_channels, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(z)
        for m in self.mid:
            h = m(h)
        for lvl in self.conv_blocks:
            h = _run_level(lvl, h)
            if hasattr(lvl, 'upsample'):
                h = lvl.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


def entropy_loss(logits, temperature=0.01):
    """LlamaGen's codebook-usage regulariser: mean per-sample entropy minus entropy of the batch-mean distribution."""
    logits = logits.reshape(-1, logits.shape[-1]) / temperature
    p = logits.softmax(-1)
    avg = p.mean(0)
    return -(p * F.log_softmax(logits + 1e-5, dim=-1)).sum(-1).mean() + (avg * torch.log(avg + 1e-5)).sum()


class VectorQuantizer(nn.Module):
    def __init__(self, n_e, e_dim, beta=0.25, entropy_loss_ratio=0.0, l2_norm=True, show_usage=True):
        super().__init__()
        self.n_e, self.e_dim, self.beta = n_e, e_dim, beta
        self.entropy_loss_ratio, self.l2_norm, self.show_usage = entropy_loss_ratio, l2_norm, show_usage
        self.embedding = nn.Embedding(n_e, e_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)
        if l2_norm:
            self.embedding.weight.data = F.normalize(self.embedding.weight.data, dim=-1)
        if show_usage:  # ring buffer of the last 65536 code ids seen in training (statistic only)
            self.register_buffer('codebook_used', torch.zeros(65536))

    def codebook(self):
        return F.normalize(self.embedding.weight, dim=-1) if self.l2_norm else self.embedding.weight

    def distances(self, z_NC):
        """Squared distances [N, V] between (l2-normalised) rows and (l2-normalised) codes, official op order."""
        E = self.codebook()
        if self.l2_norm:
            z_NC = F.normalize(z_NC, dim=-1)
        return z_NC.square().sum(1, keepdim=True) + E.square().sum(1) - 2 * z_NC @ E.T

    def nearest(self, z_NC):
        return self.distances(z_NC).argmin(1)

    def forward(self, z):
        """z [B, C, h, w] -> (z_q [B,C,h,w] with straight-through gradient, losses dict (training only), ids [B, h*w])."""
        B, C, h, w = z.shape
        z = z.permute(0, 2, 3, 1).reshape(-1, C)
        if self.l2_norm:
            z = F.normalize(z, dim=-1)
        d = self.distances(z)
        idx = d.argmin(1)
        z_q = self.codebook()[idx]
        losses = {}
        if self.training:
            losses['vq'] = (z_q - z.detach()).square().mean()               # moves the codebook
            losses['commit'] = self.beta * (z_q.detach() - z).square().mean()  # moves the encoder
            if self.entropy_loss_ratio > 0:
                losses['entropy'] = self.entropy_loss_ratio * entropy_loss(-d)
            if self.show_usage:
                n = min(idx.numel(), self.codebook_used.numel())
                self.codebook_used.copy_(torch.cat((self.codebook_used[n:], idx[-n:].to(self.codebook_used.dtype))))
                losses['usage'] = torch.unique(self.codebook_used).numel() / self.n_e  # a statistic, not a loss
        z_q = z + (z_q - z).detach()  # straight-through estimator
        return z_q.view(B, h, w, C).permute(0, 3, 1, 2), losses, idx.view(B, h * w)

    def get_codebook_entry(self, indices, shape=None, channel_first=True):
        """ids -> code vectors; shape = (B, C, h, w) if channel_first else (B, h, w, C)."""
        z_q = self.codebook()[indices]
        if shape is None:
            return z_q
        if channel_first:
            return z_q.reshape(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2).contiguous()
        return z_q.view(shape)


def _hw(s):
    return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


class FlexVQVAE(nn.Module):
    def __init__(self, codebook_size=8912, codebook_embed_dim=32, z_channels=256, ch=128, ch_mult=(1, 1, 2, 2, 4),
                 num_res_blocks=2, codebook_l2_norm=True, commit_loss_beta=0.25, entropy_loss_ratio=0.0,
                 codebook_show_usage=True, encoder_ch_mult=None, decoder_ch_mult=None):
        super().__init__()
        self.V = self.vocab_size = codebook_size
        self.Cvae = codebook_embed_dim
        # LlamaGen's ModelArgs has separate encoder_ch_mult and decoder_ch_mult; both default to ch_mult here
        enc_mult, dec_mult = tuple(encoder_ch_mult or ch_mult), tuple(decoder_ch_mult or ch_mult)
        self.downsample = 2 ** (len(dec_mult) - 1)
        self.config = dict(codebook_size=codebook_size, codebook_embed_dim=codebook_embed_dim, z_channels=z_channels,
                           ch=ch, ch_mult=list(ch_mult), num_res_blocks=num_res_blocks,
                           codebook_l2_norm=codebook_l2_norm)
        if enc_mult != tuple(ch_mult) or dec_mult != tuple(ch_mult):
            self.config.update(encoder_ch_mult=list(enc_mult), decoder_ch_mult=list(dec_mult))
        self.encoder = Encoder(ch, enc_mult, num_res_blocks, z_channels)
        self.decoder = Decoder(ch, dec_mult, num_res_blocks, z_channels)
        self.quantize = VectorQuantizer(codebook_size, codebook_embed_dim, commit_loss_beta, entropy_loss_ratio,
                                        codebook_l2_norm, codebook_show_usage)
        self.quant_conv = nn.Conv2d(z_channels, codebook_embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(codebook_embed_dim, z_channels, 1)

    # --- encoding ---
    def encode_conti(self, img):
        """Continuous latent f = quant_conv(encoder(img)) [B, Cvae, H/down, W/down]."""
        return self.quant_conv(self.encoder(img))

    def f_to_idx(self, f, hw=None):
        """Code ids [B, h*w] of f area-resized to hw (int or (h, w); None: f's own size)."""
        if hw is not None and _hw(hw) != tuple(f.shape[-2:]):
            f = F.interpolate(f, size=_hw(hw), mode='area')
        B, C = f.shape[:2]
        return self.quantize.nearest(f.permute(0, 2, 3, 1).reshape(-1, C)).view(B, -1)

    @torch.no_grad()
    def img_to_idx(self, img, hw=None):
        return self.f_to_idx(self.encode_conti(img), hw)

    @torch.no_grad()
    def img_to_idxBl(self, img, patch_nums):
        """GT tokens of every scale of a schedule (each scale encoded independently from the same f)."""
        f = self.encode_conti(img)
        return [self.f_to_idx(f, pn) for pn in patch_nums]

    # --- decoding ---
    def decode(self, quant):
        return self.decoder(self.post_quant_conv(quant))

    def decode_code(self, code_b, shape=None, channel_first=True):
        """Official signature: ids + shape (B, Cvae, h, w) -> image [B, 3, down*h, down*w], range ~[-1, 1] (no clamp)."""
        return self.decode(self.quantize.get_codebook_entry(code_b, shape, channel_first))

    def idx_to_img(self, idx, hw):
        h, w = _hw(hw)
        return self.decode_code(idx, shape=(idx.shape[0], self.Cvae, h, w))

    # --- training ---
    def forward(self, img, hw=None):
        """Quantise at one scale (None: full) and decode. Returns (reconstruction, losses dict, ids)."""
        f = self.encode_conti(img)
        if hw is not None and _hw(hw) != tuple(f.shape[-2:]):
            f = F.interpolate(f, size=_hw(hw), mode='area')
        z_q, losses, idx = self.quantize(f)
        return self.decode(z_q), losses, idx

    def scalable_loss(self, img, hw=None, rng=random, rect=False, rec='l2'):
        """FlexVAR 'scalable tokenizer' step: quantise + decode the full map AND an area-downsampled map of size hw
        (None: random side in [1, H-1], independently per axis if rect), compare with img area-downsampled to the
        decoded size. Returns (total loss, dict of the parts and both reconstructions)."""
        f = self.encode_conti(img)
        H, W = f.shape[-2:]
        if hw is None:
            h = rng.randint(1, H - 1)
            hw = (h, rng.randint(1, W - 1) if rect else max(1, round(h * W / H)))
        h, w = _hw(hw)
        recf = F.mse_loss if rec == 'l2' else F.l1_loss
        out, total = {}, 0.0
        for tag, fk in (('full', f), ('small', F.interpolate(f, size=(h, w), mode='area'))):
            z_q, losses, _ = self.quantize(fk)
            dec = self.decode(z_q)
            target = img if tag == 'full' else F.interpolate(img, size=dec.shape[-2:], mode='area')
            out[f'rec_{tag}'] = recf(dec, target)
            out[f'img_{tag}'] = dec
            total = total + out[f'rec_{tag}'] + sum(v for k, v in losses.items() if k != 'usage')
            out.update({f'{k}_{tag}': v for k, v in losses.items()})
        out['hw'] = (h, w)
        return total, out
