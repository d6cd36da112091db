"""VAR transformer (FoundationVision/VAR models/var.py, basic_var.py, helpers.py) re-written from the paper
(§3) and the official code under the official parameter names. Also the base of MVAR and FlexVAR.

`forward` is the teacher-forced, block-causal single pass (the training path and the parity oracle);
`autoregressive_infer_cfg` is the KV-cached sampler. A `torch.Generator` makes sampling reproducible in PyTorch;
the Swift engine has its own RNG, so parity is checked with greedy (top_k=1) sampling and teacher forcing.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, attn_l2_norm=True):
        super().__init__()
        self.num_heads, self.head_dim, self.attn_l2_norm = num_heads, embed_dim // num_heads, attn_l2_norm
        if attn_l2_norm:
            self.scale = 1.0
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
            self.max_scale_mul = math.log(100)
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.mat_qkv = nn.Linear(embed_dim, embed_dim * 3, bias=False)
        self.q_bias, self.v_bias = nn.Parameter(torch.zeros(embed_dim)), nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer('zero_k_bias', torch.zeros(embed_dim))
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.caching, self.cached_k, self.cached_v = False, None, None

    def kv_caching(self, enable):
        self.caching, self.cached_k, self.cached_v = enable, None, None

    def qkv(self, x):
        B, L, C = x.shape
        qkv = F.linear(x, self.mat_qkv.weight, torch.cat((self.q_bias, self.zero_k_bias, self.v_bias)))
        q, k, v = qkv.view(B, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # B H L c
        if self.attn_l2_norm:
            scale_mul = self.scale_mul_1H11.clamp_max(self.max_scale_mul).exp()
            q = F.normalize(q, dim=-1) * scale_mul
            k = F.normalize(k, dim=-1)
        return q, k, v

    def attend(self, q, k, v, attn_bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias, scale=self.scale)

    def forward(self, x, attn_bias):
        B, L, C = x.shape
        q, k, v = self.qkv(x)
        if self.caching:
            if self.cached_k is None:
                self.cached_k, self.cached_v = k, v
            else:
                k = self.cached_k = torch.cat((self.cached_k, k), dim=2)
                v = self.cached_v = torch.cat((self.cached_v, v), dim=2)
        o = self.attend(q, k, v, attn_bias)
        return self.proj(o.transpose(1, 2).reshape(B, L, C))


class FFN(nn.Module):
    def __init__(self, C, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(C, hidden), nn.Linear(hidden, C)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class AdaLNSelfAttn(nn.Module):
    def __init__(self, embed_dim, cond_dim, num_heads, mlp_ratio=4.0, norm_eps=1e-6, attn_l2_norm=True):
        super().__init__()
        self.C = embed_dim
        self.attn = SelfAttention(embed_dim, num_heads, attn_l2_norm)
        self.ffn = FFN(embed_dim, round(embed_dim * mlp_ratio))
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(inplace=False), nn.Linear(cond_dim, 6 * embed_dim))

    def forward(self, x, cond_BD, attn_bias):
        g1, g2, s1, s2, b1, b2 = self.ada_lin(cond_BD).view(-1, 1, 6, self.C).unbind(2)
        x = x + self.attn(self.ln_wo_grad(x) * (1 + s1) + b1, attn_bias) * g1
        x = x + self.ffn(self.ln_wo_grad(x) * (1 + s2) + b2) * g2
        return x


class AdaLNBeforeHead(nn.Module):
    def __init__(self, C, D, norm_eps=1e-6):
        super().__init__()
        self.C = C
        self.ln_wo_grad = nn.LayerNorm(C, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(inplace=False), nn.Linear(D, 2 * C))

    def forward(self, x, cond_BD):
        scale, shift = self.ada_lin(cond_BD).view(-1, 1, 2, self.C).unbind(2)
        return self.ln_wo_grad(x) * (1 + scale) + shift


def sample_with_top_k_top_p_(logits, top_k=0, top_p=0.0, rng=None, num_samples=1):
    """Official sampler semantics: top-k keeps ties, top-p applies to the top-k-filtered logits, in place; one
    multinomial draw per token (top_k=1 is greedy: a one-hot distribution, deterministic unless the top logits tie)."""
    B, l, V = logits.shape
    if top_k > 0:
        idx_to_remove = logits < logits.topk(top_k, largest=True, sorted=False, dim=-1)[0].amin(dim=-1, keepdim=True)
        logits.masked_fill_(idx_to_remove, -torch.inf)
    if top_p > 0:
        sorted_logits, sorted_idx = logits.sort(dim=-1, descending=False)
        sorted_idx_to_remove = sorted_logits.softmax(dim=-1).cumsum_(dim=-1) <= (1 - top_p)
        sorted_idx_to_remove[..., -1:] = False
        logits.masked_fill_(sorted_idx_to_remove.scatter(sorted_idx.ndim - 1, sorted_idx, sorted_idx_to_remove), -torch.inf)
    replacement = num_samples >= 0
    return torch.multinomial(logits.softmax(dim=-1).view(-1, V), num_samples=abs(num_samples), replacement=replacement,
                             generator=rng).view(B, l, abs(num_samples))


def gumbel_softmax_with_rng(logits, tau=1.0, hard=False, eps=1e-10, dim=-1, rng=None):
    """Official helper for `more_smooth` (soft, Gumbel-perturbed code mixture); same RNG use as upstream."""
    if rng is None:
        return F.gumbel_softmax(logits=logits, tau=tau, hard=hard, eps=eps, dim=dim)
    gumbels = -torch.empty_like(logits, memory_format=torch.legacy_contiguous_format).exponential_(generator=rng).log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if hard:
        index = y_soft.max(dim, keepdim=True)[1]
        y_hard = torch.zeros_like(logits, memory_format=torch.legacy_contiguous_format).scatter_(dim, index, 1.0)
        return y_hard - y_soft.detach() + y_soft
    return y_soft


class VAR(nn.Module):
    def __init__(self, vae_local, num_classes=1000, depth=16, embed_dim=1024, num_heads=16, mlp_ratio=4.0,
                 norm_eps=1e-6, attn_l2_norm=True, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), cond_drop_rate=0.1):
        super().__init__()
        self.Cvae, self.V = vae_local.Cvae, vae_local.V
        self.depth, self.C, self.D, self.num_heads = depth, embed_dim, embed_dim, num_heads
        self.num_classes, self.cond_drop_rate = num_classes, cond_drop_rate
        self.patch_nums = tuple(patch_nums)
        self.L = sum(pn * pn for pn in self.patch_nums)
        self.first_l = self.patch_nums[0] ** 2
        self.begin_ends, cur = [], 0
        for pn in self.patch_nums:
            self.begin_ends.append((cur, cur + pn * pn))
            cur += pn * pn
        self.config = dict(depth=depth, embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                           norm_eps=norm_eps, attn_l2_norm=attn_l2_norm, patch_nums=list(patch_nums),
                           num_classes=num_classes, vocab_size=self.V, Cvae=self.Cvae)
        self.vae_proxy = (vae_local,)
        self.vae_quant_proxy = (vae_local.quantize,)

        self.word_embed = nn.Linear(self.Cvae, self.C)
        init_std = math.sqrt(1 / self.C / 3)
        self.class_emb = nn.Embedding(num_classes + 1, self.C)
        nn.init.trunc_normal_(self.class_emb.weight, mean=0, std=init_std)
        self.pos_start = nn.Parameter(torch.empty(1, self.first_l, self.C))
        nn.init.trunc_normal_(self.pos_start, mean=0, std=init_std)
        self.init_positions(init_std)
        self.blocks = nn.ModuleList([
            AdaLNSelfAttn(self.C, self.D, num_heads, mlp_ratio, norm_eps, attn_l2_norm) for _ in range(depth)])
        self.head_nm = AdaLNBeforeHead(self.C, self.D, norm_eps)
        self.head = nn.Linear(self.C, self.V)
        self.register_buffer('attn_bias_for_masking', self.build_mask())

    # --- positions: VAR has learned absolute positions + a level embedding (FlexVAR overrides this) ---
    def init_positions(self, init_std):
        pos_1LC = torch.empty(1, self.L, self.C)
        nn.init.trunc_normal_(pos_1LC, mean=0, std=init_std)
        self.pos_1LC = nn.Parameter(pos_1LC)
        self.lvl_embed = nn.Embedding(len(self.patch_nums), self.C)
        nn.init.trunc_normal_(self.lvl_embed.weight, mean=0, std=init_std)
        d = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(self.patch_nums)]).view(1, self.L)
        self.register_buffer('lvl_1L', d)

    def lvl_pos(self):
        return self.lvl_embed(self.lvl_1L) + self.pos_1LC  # [1, L, C]

    def build_mask(self):
        d = self.lvl_1L.view(1, self.L, 1)
        return torch.where(d >= d.transpose(1, 2), 0., -torch.inf).reshape(1, 1, self.L, self.L)

    def head_logits(self, h, cond_BD):
        dt = self.head.weight.dtype  # official: float32 (.float(), outside autocast); generic so float64 runs work
        return self.head(self.head_nm(h.to(dt), cond_BD).to(dt)).to(dt)

    # --- teacher forcing ---
    def forward(self, label_B, x_BLCv_wo_first_l):
        B = x_BLCv_wo_first_l.shape[0]
        if self.training and self.cond_drop_rate > 0:  # official drops labels even in eval; we gate on training
            label_B = torch.where(torch.rand(B, device=label_B.device) < self.cond_drop_rate, self.num_classes, label_B)
        cond_BD = self.class_emb(label_B)
        sos = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.to(self.word_embed.weight.dtype))), dim=1) + self.lvl_pos()
        attn_bias = self.attn_bias_for_masking.to(x.dtype)
        for b in self.blocks:
            x = b(x, cond_BD, attn_bias)
        return self.head_logits(x, cond_BD)

    # --- sampling (KV cache) ---
    @torch.no_grad()
    def autoregressive_infer_cfg(self, B, label_B, g_seed=None, cfg=1.5, top_k=0, top_p=0.0, more_smooth=False,
                                 return_all=False):
        """Official semantics. label_B: None (drawn uniformly with the generator), an int (< 0: the null class)
        or a LongTensor [B]. return_all: also a per-scale trace of the guided logits (before top-k/top-p), ids, f_hat."""
        dev = self.head.weight.device
        rng = None if g_seed is None else torch.Generator(device=dev).manual_seed(g_seed)
        if label_B is None:
            uniform = torch.full((1, self.num_classes), 1.0 / self.num_classes, device=dev)
            label_B = torch.multinomial(uniform, num_samples=B, replacement=True, generator=rng).reshape(B)
        elif isinstance(label_B, int):
            label_B = torch.full((B,), self.num_classes if label_B < 0 else label_B, device=dev)
        else:
            label_B = torch.as_tensor(label_B, device=dev).view(-1).expand(B)  # (extension) one label for all B
        sos = cond_BD = self.class_emb(torch.cat((label_B, torch.full_like(label_B, self.num_classes))))
        lvl_pos = self.lvl_pos()
        next_token_map = sos.unsqueeze(1).expand(2 * B, self.first_l, -1) + self.pos_start.expand(2 * B, self.first_l, -1) + lvl_pos[:, :self.first_l]
        vq = self.vae_quant_proxy[0]
        H = self.patch_nums[-1]
        f_hat = sos.new_zeros(B, self.Cvae, H, H)
        for b in self.blocks:
            b.attn.kv_caching(True)
        cur_L, SN, trace = 0, len(self.patch_nums), []
        for si, pn in enumerate(self.patch_nums):
            ratio = si / max(SN - 1, 1)
            cur_L += pn * pn
            x = next_token_map
            for b in self.blocks:
                x = b(x, cond_BD, None)
            logits = self.head_logits(x, cond_BD)
            t = cfg * ratio
            logits = (1 + t) * logits[:B] - t * logits[B:]
            raw = logits.clone() if return_all else None
            idx_Bl = sample_with_top_k_top_p_(logits, top_k=top_k, top_p=top_p, rng=rng)[:, :, 0]
            if not more_smooth:
                h_BlC = vq.embedding(idx_Bl)
            else:  # visualisation only; `logits` is the top-k/top-p-filtered copy left by the in-place sampler
                gum_t = max(0.27 * (1 - ratio * 0.95), 0.005)
                h_BlC = gumbel_softmax_with_rng(logits.mul(1 + ratio), tau=gum_t, hard=False, dim=-1, rng=rng) @ vq.embedding.weight.unsqueeze(0)
            h_BChw = h_BlC.transpose(1, 2).reshape(B, self.Cvae, pn, pn)
            f_hat, next_map = vq.get_next_autoregressive_input(si, SN, f_hat, h_BChw)
            if return_all:
                trace.append(dict(logits=raw, idx=idx_Bl, f_hat=f_hat.clone()))
            if si != SN - 1:
                next_token_map = next_map.view(B, self.Cvae, -1).transpose(1, 2)
                next_token_map = self.word_embed(next_token_map) + lvl_pos[:, cur_L:cur_L + self.patch_nums[si + 1] ** 2]
                next_token_map = next_token_map.repeat(2, 1, 1)
        for b in self.blocks:
            b.attn.kv_caching(False)
        img = self.vae_proxy[0].fhat_to_img(f_hat).add_(1).mul_(0.5)
        return (img, trace) if return_all else img


def init_weights(model, init_adaln=0.5, init_adaln_gamma=1e-5, init_head=0.02):
    """Official VAR.init_weights (init_std = sqrt(1/C/3)): small AdaLN gammas so blocks start near identity."""
    std = math.sqrt(1 / model.C / 3)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.trunc_normal_(m.weight, std=std)
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
