"""MVAR (CVL-UESTC/MVAR models/mvar.py, basic_mvar.py), re-written from the paper (§3) and the official code
on top of var.py: identical parameters and buffers (a VAR state dict loads strict=True), different attention.

  * scale-Markov: a scale's tokens attend only to the tokens of the SAME scale (block-diagonal), never to earlier
    scales; the input of scale k is still VAR's (word_embed(area(f_hat -> pn_k)) + lvl_pos), f_hat accumulates as VAR;
  * spatial-Markov: for scale index si >= refine_step (8 of 10: pn 13, 16) the attention is 2-D neighbourhood
    attention (NATTEN na2d, kernel 7, dilation 1, no rpb, same scale as dense): the query at (i, j) of an n x n map
    sees rows [s_i, s_i + 7) x cols [s_j, s_j + 7), s = clamp(i - 3, 0, n - 7) (NATTEN get_window_start), 49 keys.
`forward` is the teacher-forced single pass with the combined mask (block-diagonal for si < refine_step, neighbourhood
inside the scale for si >= refine_step); it equals the official per-range passes (scales 0..7 with the block-diagonal
mask, 8 and 9 alone with NATTEN). `autoregressive_infer_cfg` runs each scale alone (no KV cache; only f_hat carried),
with a windowed (gather) neighbourhood attention, no mask. `attn_bias_for_masking` keeps the official block-diagonal
mask (a VAR-initialised fine-tune may carry VAR's mask there; neither path reads it).
"""
import torch
import torch.nn.functional as F

from var import VAR, SelfAttention, sample_with_top_k_top_p_, gumbel_softmax_with_rng


def na_window_starts(n, kernel_size=7):
    """NATTEN's window start per index (dilation 1, n >= kernel_size): clamp(i - k//2, 0, n - k)."""
    return (torch.arange(n) - kernel_size // 2).clamp(0, n - kernel_size)


def na_mask(n, kernel_size=7):
    """[n*n, n*n] bool: query (row-major) may see key. Brute force from the window rule."""
    s = na_window_starts(n, kernel_size)
    r = torch.arange(n)
    ok1 = (r.view(1, n) >= s.view(n, 1)) & (r.view(1, n) < s.view(n, 1) + kernel_size)  # [query idx, key idx]
    return (ok1.view(n, 1, n, 1) & ok1.view(1, n, 1, n)).reshape(n * n, n * n)


def neighborhood_attention(q, k, v, n, kernel_size, scale):
    """Windowed 2-D neighbourhood attention (what NATTEN computes), q, k, v [B, H, n*n, c] row-major, no mask."""
    B, H, L, c = q.shape
    s = na_window_starts(n, kernel_size).to(q.device)
    rows = (s.view(n, 1) + torch.arange(kernel_size, device=q.device)).view(n, 1, kernel_size, 1)
    cols = (s.view(n, 1) + torch.arange(kernel_size, device=q.device)).view(1, n, 1, kernel_size)
    nbr = (rows * n + cols).reshape(L, kernel_size * kernel_size)  # key index per query, per window cell
    kw, vw = k[:, :, nbr], v[:, :, nbr]  # [B, H, L, k*k, c]
    att = (torch.einsum('bhlc,bhlkc->bhlk', q, kw) * scale).softmax(-1)
    return torch.einsum('bhlk,bhlkc->bhlc', att, vw)


class NA:
    """attn_bias marker: run windowed neighbourhood attention on an n x n map."""
    def __init__(self, n, kernel_size):
        self.n, self.kernel_size = n, kernel_size


class MVARSelfAttention(SelfAttention):
    def attend(self, q, k, v, attn_bias):
        if isinstance(attn_bias, NA):
            return neighborhood_attention(q, k, v, attn_bias.n, attn_bias.kernel_size, self.scale)
        return super().attend(q, k, v, attn_bias)


class MVAR(VAR):
    def __init__(self, vae_local, num_classes=1000, depth=16, embed_dim=1024, num_heads=16, mlp_ratio=4.0,
                 norm_eps=1e-6, attn_l2_norm=True, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), cond_drop_rate=0.1,
                 kernel_size=7, refine_step=8):
        self.kernel_size, self.refine_step = kernel_size, refine_step
        super().__init__(vae_local, num_classes, depth, embed_dim, num_heads, mlp_ratio, norm_eps, attn_l2_norm,
                         patch_nums, cond_drop_rate)
        self.config.update(kernel_size=kernel_size, refine_step=refine_step)
        for b in self.blocks:  # same parameters; only the attention kernel choice differs
            b.attn.__class__ = MVARSelfAttention
        self.register_buffer('train_mask', self.build_train_mask(), persistent=False)

    def build_mask(self):
        """Official buffer: block-diagonal (every scale sees only itself)."""
        d = self.lvl_1L.view(1, self.L, 1)
        return torch.where(d == d.transpose(1, 2), 0., -torch.inf).reshape(1, 1, self.L, self.L)

    def build_train_mask(self):
        """Block-diagonal, with the neighbourhood rule inside scales si >= refine_step."""
        ok = self.lvl_1L.view(self.L, 1) == self.lvl_1L.view(1, self.L)
        for si in range(self.refine_step, len(self.patch_nums)):
            bg, ed = self.begin_ends[si]
            ok[bg:ed, bg:ed] = na_mask(self.patch_nums[si], self.kernel_size)
        return torch.where(ok, 0., -torch.inf).reshape(1, 1, self.L, self.L)

    # --- teacher forcing: one pass over all scales (inputs exactly as VAR: vae.quantize.idxBl_to_var_input) ---
    def forward(self, label_B, x_BLCv_wo_first_l):
        B = x_BLCv_wo_first_l.shape[0]
        if self.training and self.cond_drop_rate > 0:
            label_B = torch.where(torch.rand(B, device=label_B.device) < self.cond_drop_rate, self.num_classes, label_B)
        cond_BD = self.class_emb(label_B)
        sos = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.to(self.word_embed.weight.dtype))), dim=1) + self.lvl_pos()
        attn_bias = self.train_mask.to(x.dtype)
        for b in self.blocks:
            x = b(x, cond_BD, attn_bias)
        return self.head_logits(x, cond_BD)

    # --- sampling: each scale alone, only f_hat carried ---
    def scale_attn_bias(self, si):
        return NA(self.patch_nums[si], self.kernel_size) if si >= self.refine_step else None

    @torch.no_grad()
    def autoregressive_infer_cfg(self, B, label_B, g_seed=None, cfg=1.5, top_k=0, top_p=0.0, more_smooth=False,
                                 return_all=False):
        """Official `autoregressive_infer` semantics (CFG skipped, batch not doubled, when cfg == 1.0); returns the
        image in [0, 1] (fhat_to_img, clamped) and, with return_all, a per-scale trace (guided logits, ids, f_hat)."""
        dev = self.head.weight.device
        rng = None if g_seed is None else torch.Generator(device=dev).manual_seed(g_seed)
        if label_B is None:
            uniform = torch.full((1, self.num_classes), 1.0 / self.num_classes, device=dev)
            label_B = torch.multinomial(uniform, num_samples=B, replacement=True, generator=rng).reshape(B)
        elif isinstance(label_B, int):
            label_B = torch.full((B,), self.num_classes if label_B < 0 else label_B, device=dev)
        else:
            label_B = torch.as_tensor(label_B, device=dev).view(-1).expand(B)
        use_cfg = cfg != 1.0
        rows = torch.cat((label_B, torch.full_like(label_B, self.num_classes))) if use_cfg else label_B
        sos = cond_BD = self.class_emb(rows)
        R = sos.shape[0]
        lvl_pos = self.lvl_pos()
        x_next = sos.unsqueeze(1).expand(R, self.first_l, -1) + self.pos_start.expand(R, self.first_l, -1) + lvl_pos[:, :self.first_l]
        vq = self.vae_quant_proxy[0]
        H = self.patch_nums[-1]
        f_hat = sos.new_zeros(B, self.Cvae, H, H)
        cur_L, SN, trace = 0, len(self.patch_nums), []
        for si, pn in enumerate(self.patch_nums):
            ratio = si / max(SN - 1, 1)
            cur_L += pn * pn
            x, bias = x_next, self.scale_attn_bias(si)
            for b in self.blocks:
                x = b(x, cond_BD, bias)
            logits = self.head_logits(x, cond_BD)
            if use_cfg:
                t = cfg * ratio
                logits = (1 + t) * logits[:B] - t * logits[B:]
            raw = logits.clone() if return_all else None
            idx_Bl = sample_with_top_k_top_p_(logits, top_k=top_k, top_p=top_p, rng=rng)[:, :, 0]
            if not more_smooth:
                h_BlC = vq.embedding(idx_Bl)
            else:
                gum_t = max(0.27 * (1 - ratio * 0.95), 0.005)
                h_BlC = gumbel_softmax_with_rng(logits.mul(1 + ratio), tau=gum_t, hard=False, dim=-1, rng=rng) @ vq.embedding.weight.unsqueeze(0)
            f_hat, next_map = vq.get_next_autoregressive_input(si, SN, f_hat, h_BlC.transpose(1, 2).reshape(B, self.Cvae, pn, pn))
            if return_all:
                trace.append(dict(logits=raw, idx=idx_Bl, f_hat=f_hat.clone()))
            if si != SN - 1:
                nxt = self.word_embed(next_map.view(B, self.Cvae, -1).transpose(1, 2)) + lvl_pos[:, cur_L:cur_L + self.patch_nums[si + 1] ** 2]
                x_next = nxt.repeat(2, 1, 1) if use_cfg else nxt
        img = self.vae_proxy[0].fhat_to_img(f_hat).add_(1).mul_(0.5)
        return (img, trace) if return_all else img
