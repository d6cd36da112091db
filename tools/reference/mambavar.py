"""M-VAR (OliverRensu/MVAR, arXiv 2411.10433): VAR with intra-scale attention + inter-scale Mamba-2, re-written from
the paper (§3.2, eqs. 5-6) and the official code under the official parameter names (flat state dict, `strict=True`).

Block (`blocks.i.`): ada_lin = SiLU -> Linear(C, 9C), rows g1 g2 g3 s1 s2 s3 b1 b2 b3 (each C); LN without affine.
    x += g1 * Attn(LN(x)(1+s1)+b1)    attention only among the tokens of the same scale (block-diagonal)
    x += g2 * Mamba2(LN(x)(1+s2)+b2)  causal over the whole token history (scales coarse->fine, row-major)
    x += g3 * FFN(LN(x)(1+s3)+b3)
Mamba2(d_model=C, d_state=64, d_conv=4, expand=2, headdim=64) with mamba_ssm's keys (see mamba2.py).
Tokenizer, word/class/position/level embeddings, head_nm + head and the sampler are VAR's (var.py, vqvae.py).

`forward` = teacher-forced training pass (one Mamba pass over all L tokens from zero state).
`autoregressive_infer_cfg` = scale-by-scale sampler that carries each block's Mamba (conv_state, ssm_state) from
scale to scale; `recompute=True` instead re-runs Mamba from zero over all cached post-attention tokens, like the
released code (identical result, quadratic cost). `forward_incremental` is the teacher-forced version of the carried
loop (the parity oracle for the Swift engine).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamba2 import Mamba2
from var import FFN, AdaLNBeforeHead, SelfAttention, sample_with_top_k_top_p_

try:
    from var import gumbel_softmax_with_rng
except ImportError:  # older var.py
    def gumbel_softmax_with_rng(logits, tau=1.0, hard=False, eps=1e-10, dim=-1, rng=None):
        if rng is None:
            return F.gumbel_softmax(logits=logits, tau=tau, hard=hard, eps=eps, dim=dim)
        g = -torch.empty_like(logits).exponential_(generator=rng).log()
        return ((logits + g) / tau).softmax(dim)


class DropPath(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1 - self.p
        return x * x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep).div_(keep)


class ScaleAttention(SelfAttention):
    """VAR's attention (mat_qkv + q_bias/zero_k_bias/v_bias, optional l2-norm with scale_mul_1H11, proj); the
    softmax runs only inside each segment of `seg_lens` (one segment per scale). `patch_nums` buffer = pn^2 (int32),
    kept for the official state dict."""

    def __init__(self, embed_dim, num_heads, attn_l2_norm, patch_nums):
        super().__init__(embed_dim, num_heads, attn_l2_norm)
        self.register_buffer('patch_nums', torch.tensor([pn * pn for pn in patch_nums], dtype=torch.int32))

    def forward(self, x, seg_lens):
        B, L, C = x.shape
        q, k, v = self.qkv(x)                                    # [B, H, L, c]
        outs, s = [], 0
        for n in seg_lens:
            outs.append(F.scaled_dot_product_attention(q[:, :, s:s + n], k[:, :, s:s + n], v[:, :, s:s + n],
                                                       scale=self.scale))
            s += n
        assert s == L
        o = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]
        return self.proj(o.transpose(1, 2).reshape(B, L, C))


class AdaLNSelfAttnMamba(nn.Module):
    def __init__(self, embed_dim, cond_dim, num_heads, mlp_ratio=4.0, norm_eps=1e-6, attn_l2_norm=False,
                 patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), drop_path=0.0, d_state=64, d_conv=4, expand=2,
                 headdim=64, chunk_size=64):
        super().__init__()
        self.C = embed_dim
        self.attn = ScaleAttention(embed_dim, num_heads, attn_l2_norm, patch_nums)
        self.mamba = Mamba2(embed_dim, d_state=d_state, d_conv=d_conv, expand=expand, headdim=headdim,
                            chunk_size=chunk_size)
        self.ffn = FFN(embed_dim, round(embed_dim * mlp_ratio))
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(inplace=False), nn.Linear(cond_dim, 9 * embed_dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x, cond_BD, seg_lens, mamba_state=None, recompute_cache=None):
        """x [B, l, C] (all scales in training, or the current scale's tokens). mamba_state: None (Mamba from zero
        state over x) or a (conv_state, ssm_state) pair to continue from; then returns (x, new_state).
        recompute_cache: a list holding the post-attention tokens of earlier scales (released-code emulation)."""
        g1, g2, g3, s1, s2, s3, b1, b2, b3 = self.ada_lin(cond_BD).view(-1, 1, 9, self.C).unbind(2)
        x = x + self.drop_path(self.attn(self.ln_wo_grad(x) * (1 + s1) + b1, seg_lens) * g1)
        new_state = None
        if recompute_cache is not None:
            recompute_cache.append(x)
            hist = torch.cat(recompute_cache, dim=1)
            m = self.mamba(self.ln_wo_grad(hist) * (1 + s2) + b2)[:, -x.shape[1]:]
        elif mamba_state is not None:
            m, conv, ssm = self.mamba(self.ln_wo_grad(x) * (1 + s2) + b2, *mamba_state, return_final_states=True)
            new_state = (conv, ssm)
        else:
            m = self.mamba(self.ln_wo_grad(x) * (1 + s2) + b2)
        x = x + self.drop_path(m * g2)
        x = x + self.drop_path(self.ffn(self.ln_wo_grad(x) * (1 + s3) + b3) * g3)
        return x if mamba_state is None else (x, new_state)


class MambaVAR(nn.Module):
    def __init__(self, vae_local, num_classes=1000, depth=16, embed_dim=1024, num_heads=16, mlp_ratio=4.0,
                 norm_eps=1e-6, attn_l2_norm=False, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
                 cond_drop_rate=0.1, drop_path_rate=0.0, d_state=64, d_conv=4, expand=2, headdim=64,
                 chunk_size=64):
        super().__init__()
        self.Cvae, self.V = vae_local.Cvae, vae_local.V
        self.depth, self.C, self.D, self.num_heads = depth, embed_dim, embed_dim, num_heads
        self.num_classes, self.cond_drop_rate = num_classes, cond_drop_rate
        self.patch_nums = tuple(patch_nums)
        self.seg_lens = [pn * pn for pn in self.patch_nums]
        self.L = sum(self.seg_lens)
        self.first_l = self.seg_lens[0]
        self.begin_ends, cur = [], 0
        for n in self.seg_lens:
            self.begin_ends.append((cur, cur + n))
            cur += n
        self.config = dict(depth=depth, embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                           norm_eps=norm_eps, attn_l2_norm=attn_l2_norm, patch_nums=list(patch_nums),
                           num_classes=num_classes, vocab_size=self.V, Cvae=self.Cvae, d_state=d_state,
                           d_conv=d_conv, expand=expand, headdim=headdim)
        self.vae_proxy = (vae_local,)
        self.vae_quant_proxy = (vae_local.quantize,)

        init_std = math.sqrt(1 / self.C / 3)
        self.word_embed = nn.Linear(self.Cvae, self.C)
        self.class_emb = nn.Embedding(num_classes + 1, self.C)
        self.pos_start = nn.Parameter(torch.empty(1, self.first_l, self.C))
        self.pos_1LC = nn.Parameter(torch.empty(1, self.L, self.C))
        self.lvl_embed = nn.Embedding(len(self.patch_nums), self.C)
        for t in (self.class_emb.weight, self.pos_start, self.pos_1LC, self.lvl_embed.weight):
            nn.init.trunc_normal_(t.data, mean=0, std=init_std)
        lvl = torch.cat([torch.full((n,), i) for i, n in enumerate(self.seg_lens)]).view(1, self.L)
        self.register_buffer('lvl_1L', lvl)
        d = lvl.view(1, self.L, 1)   # official buffer: 0 inside a scale, -inf elsewhere (block-diagonal); unused here
        self.register_buffer('attn_bias_for_masking',
                             torch.where(d == d.transpose(1, 2), 0., -torch.inf).reshape(1, 1, self.L, self.L))
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.ModuleList([
            AdaLNSelfAttnMamba(self.C, self.D, num_heads, mlp_ratio, norm_eps, attn_l2_norm, self.patch_nums,
                               dpr[i], d_state, d_conv, expand, headdim, chunk_size) for i in range(depth)])
        self.head_nm = AdaLNBeforeHead(self.C, self.D, norm_eps)
        self.head = nn.Linear(self.C, self.V)

    def lvl_pos(self):
        return self.lvl_embed(self.lvl_1L) + self.pos_1LC   # [1, L, C]

    def head_logits(self, h, cond_BD):
        ft = torch.promote_types(h.dtype, torch.float32)   # fp32 (fp64 for a double model), as the official .float()
        return self.head(self.head_nm(h.to(ft), cond_BD).to(ft)).to(ft)

    def _inputs(self, label_B, x_BLCv_wo_first_l):
        cond_BD = self.class_emb(label_B)
        B = label_B.shape[0]
        sos = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.to(self.word_embed.weight.dtype))), dim=1) + self.lvl_pos()
        return x, cond_BD

    # --- teacher forcing (training) ---
    def forward(self, label_B, x_BLCv_wo_first_l):
        """label_B [B] (num_classes = null), x_BLCv_wo_first_l [B, L-1, Cvae] from vqvae.quantize.idxBl_to_var_input.
        Returns logits [B, L, V]. Labels are dropped to the null class with cond_drop_rate in training mode only."""
        B = x_BLCv_wo_first_l.shape[0]
        if self.training and self.cond_drop_rate > 0:
            label_B = torch.where(torch.rand(B, device=label_B.device) < self.cond_drop_rate, self.num_classes, label_B)
        x, cond_BD = self._inputs(label_B, x_BLCv_wo_first_l)
        for b in self.blocks:
            x = b(x, cond_BD, self.seg_lens)
        return self.head_logits(x, cond_BD)

    # --- incremental (scale by scale) ---
    def init_states(self, batch, device=None, dtype=None):
        """Fresh per-block Mamba states [(conv_state [B, 2C+2N, 4], ssm_state [B, H, 64, N]), ...]."""
        device = device or self.head.weight.device
        return [b.mamba.allocate_inference_cache(batch, device=device, dtype=dtype) for b in self.blocks]

    def forward_scale(self, x, cond_BD, states):
        """One scale's tokens x [B, pn^2, C] (embeddings incl. positions) through all blocks, continuing from and
        returning the per-block Mamba states. Returns (logits [B, pn^2, V], new_states)."""
        new = []
        for b, st in zip(self.blocks, states):
            x, st = b(x, cond_BD, [x.shape[1]], mamba_state=st)
            new.append(st)
        return self.head_logits(x, cond_BD), new

    def forward_incremental(self, label_B, x_BLCv_wo_first_l, recompute=False):
        """Teacher-forced scale-by-scale pass (eval semantics, no label dropout); must equal `forward`."""
        x_all, cond_BD = self._inputs(label_B, x_BLCv_wo_first_l)
        states = None if recompute else self.init_states(label_B.shape[0], device=x_all.device)
        caches = [[] for _ in self.blocks]
        out = []
        for (bg, ed) in self.begin_ends:
            x = x_all[:, bg:ed]
            if recompute:
                for b, cache in zip(self.blocks, caches):
                    x = b(x, cond_BD, [ed - bg], recompute_cache=cache)
                out.append(self.head_logits(x, cond_BD))
            else:
                logits, states = self.forward_scale(x, cond_BD, states)
                out.append(logits)
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def autoregressive_infer_cfg(self, B, label_B, g_seed=None, cfg=1.5, top_k=0, top_p=0.0, more_smooth=False,
                                 recompute=False, return_all=False):
        """The official sampler (VAR's loop: CFG ramp t = cfg*si/(SN-1), logits (1+t)c - t*u, top-k then top-p, one
        multinomial draw per token; label_B None / int (< 0: null) / LongTensor [B]; more_smooth = Gumbel mixture)
        with M-VAR's blocks. Cond and uncond rows carry separate Mamba states. recompute=True: the released code's
        re-run of Mamba over all cached tokens (same result). return_all: per-scale guided logits, ids, f_hat."""
        dev = self.head.weight.device
        rng = None if g_seed is None else torch.Generator(device=dev).manual_seed(g_seed)
        if label_B is None:
            uniform = torch.full((1, self.num_classes), 1.0 / self.num_classes, device=dev)
            label_B = torch.multinomial(uniform, num_samples=B, replacement=True, generator=rng).reshape(B)
        elif isinstance(label_B, int):
            label_B = torch.full((B,), self.num_classes if label_B < 0 else label_B, device=dev)
        else:
            label_B = torch.as_tensor(label_B, device=dev).view(-1).expand(B)
        sos = cond_BD = self.class_emb(torch.cat((label_B, torch.full_like(label_B, self.num_classes))))
        lvl_pos = self.lvl_pos()
        next_token_map = sos.unsqueeze(1).expand(2 * B, self.first_l, -1) + self.pos_start.expand(2 * B, self.first_l, -1) + lvl_pos[:, :self.first_l]
        vq = self.vae_quant_proxy[0]
        f_hat = sos.new_zeros(B, self.Cvae, self.patch_nums[-1], self.patch_nums[-1])
        states = None if recompute else self.init_states(2 * B, device=dev)
        caches = [[] for _ in self.blocks]
        SN, trace = len(self.patch_nums), []
        for si, pn in enumerate(self.patch_nums):
            ratio = si / max(SN - 1, 1)
            x = next_token_map
            if recompute:
                for b, cache in zip(self.blocks, caches):
                    x = b(x, cond_BD, [pn * pn], recompute_cache=cache)
                logits = self.head_logits(x, cond_BD)
            else:
                logits, states = self.forward_scale(x, cond_BD, states)
            t = cfg * ratio
            logits = (1 + t) * logits[:B] - t * logits[B:]
            raw = logits.clone() if return_all else None
            idx_Bl = sample_with_top_k_top_p_(logits, top_k=top_k, top_p=top_p, rng=rng)[:, :, 0]
            if not more_smooth:
                h_BlC = vq.embedding(idx_Bl)
            else:  # visualisation only; `logits` is the filtered copy left by the in-place sampler
                gum_t = max(0.27 * (1 - ratio * 0.95), 0.005)
                h_BlC = gumbel_softmax_with_rng(logits.mul(1 + ratio), tau=gum_t, hard=False, dim=-1, rng=rng) @ vq.embedding.weight.unsqueeze(0)
            h_BChw = h_BlC.transpose(1, 2).reshape(B, self.Cvae, pn, pn)
            f_hat, next_map = vq.get_next_autoregressive_input(si, SN, f_hat, h_BChw)
            if return_all:
                trace.append(dict(logits=raw, idx=idx_Bl, f_hat=f_hat.clone()))
            if si != SN - 1:
                bg, ed = self.begin_ends[si + 1]
                next_token_map = self.word_embed(next_map.view(B, self.Cvae, -1).transpose(1, 2)) + lvl_pos[:, bg:ed]
                next_token_map = next_token_map.repeat(2, 1, 1)
        img = self.vae_proxy[0].fhat_to_img(f_hat).add_(1).mul_(0.5)
        return (img, trace) if return_all else img


def init_weights(model, init_adaln=0.5, init_adaln_gamma=1e-5, init_head=0.02, init_std=-1, conv_std=0.02):
    """The official MVAR.init_weights as called by build_vae_mvar (init_std < 0 -> sqrt(1/C/3)): every Linear
    (incl. Mamba's in_proj/out_proj) trunc-normal, Conv1d (Mamba's conv) trunc-normal 0.02 with zero bias,
    Embeddings trunc-normal. Quirk kept: only the first 2C rows of each 9C ada_lin (g1, g2) get the 1e-5 gamma
    scale; g3 and the shifts/scales get init_adaln. Mamba's dt_bias / A_log / D / norm keep mamba_ssm's init."""
    std = math.sqrt(1 / model.C / 3) if init_std < 0 else init_std
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight.data, std=std)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.Embedding):
            nn.init.trunc_normal_(m.weight.data, std=std)
        elif isinstance(m, nn.Conv1d):
            nn.init.trunc_normal_(m.weight.data, std=conv_std)
            if m.bias is not None:
                m.bias.data.zero_()
    model.head.weight.data.mul_(init_head)
    model.head.bias.data.zero_()
    model.head_nm.ada_lin[-1].weight.data.mul_(init_adaln)
    model.head_nm.ada_lin[-1].bias.data.zero_()
    depth = len(model.blocks)
    for b in model.blocks:
        b.attn.proj.weight.data.div_(math.sqrt(2 * depth))
        b.ffn.fc2.weight.data.div_(math.sqrt(2 * depth))
        C = b.C
        b.ada_lin[-1].weight.data[2 * C:].mul_(init_adaln)
        b.ada_lin[-1].weight.data[:2 * C].mul_(init_adaln_gamma)
        b.ada_lin[-1].bias.data.zero_()
