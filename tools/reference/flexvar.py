"""FlexVAR generator (jiaosiyu1999/FlexVAR models/flexvar.py), re-written from the paper
(§3.4) and the official code under the official parameter names, on top of var.py's blocks.

Differences from VAR:
  * positions: `pos_1LC` is ONE learned map [1, C, P, P] (P = 2 * the largest training side, 32 officially), area-
    resized to each step's (h, w) and flattened row-major; no `lvl_embed`, no `lvl_1L`;
  * ground-truth prediction: the target of step k is the tokenizer's code map of the image at that step's size (each
    scale encoded on its own, no residual); the input of step k+1 is word_embed(bicubic(l2n-codebook[codes of step k]
    -> size of step k+1)) + pos;
  * any schedule: training draws a random schedule per step (`random_schedule`) and builds the block-causal mask for
    it; the sampler takes any list of sides or (h, w) pairs (rectangles are our extension; upstream is square only).
`forward(label_B, x_BLCv_wo_first_l, patch_nums)` is the teacher-forced pass; `autoregressive_infer_cfg` the KV-cached
sampler (§5.3). Training recipe: see `train_inputs` and the usage example in the module's report / selftest.
"""
import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from var import VAR, sample_with_top_k_top_p_

SAMPLED_SIDES = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 23, 24, 32)  # other sides are decoded greedily (top_k = 1)


def _hw(s):
    return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


def block_causal_mask(patch_nums):
    """[1, 1, L, L] additive mask: a token sees every token of its own and of earlier steps."""
    d = torch.cat([torch.full((h * w,), i) for i, (h, w) in enumerate(map(_hw, patch_nums))]).view(1, -1, 1)
    return torch.where(d >= d.transpose(1, 2), 0., -torch.inf).unsqueeze(1)


def sincos_2d(h, w, C):
    """Official initial pos map [1, C, h, w]: even channels sin(y * w_j), odd channels cos(x * w_j)."""
    omega = torch.exp(torch.arange(0, C, 2, dtype=torch.float32) * -(math.log(10000.0) / C))
    y = torch.arange(h, dtype=torch.float32).view(h, 1, 1)
    x = torch.arange(w, dtype=torch.float32).view(1, w, 1)
    pe = torch.zeros(h, w, C)
    pe[..., 0::2] = torch.sin(y * omega).expand(h, w, -1)
    pe[..., 1::2] = torch.cos(x * omega).expand(h, w, -1)
    return pe.permute(2, 0, 1).unsqueeze(0)


def random_schedule(rng=random, last=16, max_tokens=680, var_prob=0.05, keep_last=False):
    """Official training schedule draw (trainer.gen_curr_patch_nums), for last == 16: [1, 2] + 5 distinct sides from
    3..10 + 2 from 11..15 + [16] (VAR's list with prob 0.05); then drop 1-4 inner steps with prob .1/.05/.02/.01;
    then, while > max_tokens, drop one of the last 4 steps (upstream may drop the final 16 here too, so about a third
    of its schedules end below 16; keep_last=True never drops it). Other `last`: the side ranges scale with last/16."""
    mid = max(3, round(11 * last / 16))
    if last == 16 and rng.random() < var_prob:
        pns = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
    else:
        lo, hi = list(range(3, mid)), list(range(mid, last))
        pns = [1, 2] + sorted(rng.sample(lo, min(5, len(lo))) + rng.sample(hi, min(2, len(hi)))) + [last]
    x = rng.random()
    for thr in (0.9, 0.95, 0.98, 0.99):
        if x > thr and len(pns) > 3:
            pns.pop(rng.choice(range(2, len(pns) - 1)))
    while sum(p * p for p in pns) > max_tokens:
        pns.pop(rng.choice(range(max(len(pns) - 4, 0), len(pns) - (1 if keep_last else 0))))
    return pns


class FlexVAR(VAR):
    def __init__(self, vae_local, num_classes=1000, depth=16, embed_dim=1024, num_heads=16, mlp_ratio=4.0,
                 norm_eps=1e-6, attn_l2_norm=True, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), cond_drop_rate=0.1,
                 pos_hw=None):
        self.pos_hw = pos_hw or 2 * max(_hw(patch_nums[-1]))
        super().__init__(vae_local, num_classes, depth, embed_dim, num_heads, mlp_ratio, norm_eps, attn_l2_norm,
                         patch_nums, cond_drop_rate)
        self.config['pos_hw'] = self.pos_hw

    # --- positions: one map, area-resized per step; no level embedding ---
    def init_positions(self, init_std):
        self.pos_1LC = nn.Parameter(sincos_2d(self.pos_hw, self.pos_hw, self.C))

    def build_mask(self):  # the buffer the official class keeps (default schedule); forward builds its own
        return block_causal_mask(self.patch_nums)

    def pos_for(self, patch_nums):
        """[1, sum h*w, C]: the pos map area-resized to each step's (h, w), flattened row-major."""
        return torch.cat([F.interpolate(self.pos_1LC, size=_hw(pn), mode='area').flatten(2).transpose(1, 2)
                          for pn in patch_nums], dim=1)

    def lvl_pos(self):
        return self.pos_for(self.patch_nums)

    # --- training inputs (ground-truth prediction) ---
    def codes_to_next_input(self, idx_Bl, hw, next_hw):
        """ids of a step [B, h*w] -> bicubic(l2n-codebook vectors -> next step's size) as [B, h'*w', Cvae]."""
        E = self.vae_quant_proxy[0].codebook()
        B, (h, w) = idx_Bl.shape[0], _hw(hw)
        q = E[idx_Bl].view(B, h, w, -1).permute(0, 3, 1, 2)
        return F.interpolate(q, size=_hw(next_hw), mode='bicubic').flatten(2).transpose(1, 2)

    def idxBl_to_flexvar_input(self, idx_list, patch_nums):
        """Teacher-forcing input x_BLCv_wo_first_l from the ids of every step of a schedule."""
        return torch.cat([self.codes_to_next_input(idx_list[k], patch_nums[k], patch_nums[k + 1])
                          for k in range(len(patch_nums) - 1)], dim=1)

    @torch.no_grad()
    def train_inputs(self, img, patch_nums):
        """(gt_BL [B, L] targets, x_BLCv_wo_first_l [B, L - 1, Cvae] inputs) for an image batch and a schedule."""
        idx = self.vae_proxy[0].img_to_idxBl(img, patch_nums)
        return torch.cat(idx, dim=1), self.idxBl_to_flexvar_input(idx, patch_nums)

    # --- teacher forcing ---
    def forward(self, label_B, x_BLCv_wo_first_l, patch_nums=None):
        patch_nums = patch_nums or self.patch_nums
        B, first_l = label_B.shape[0], 1
        if self.training and self.cond_drop_rate > 0:  # official drops labels even in eval; we gate on training
            label_B = torch.where(torch.rand(B, device=label_B.device) < self.cond_drop_rate, self.num_classes, label_B)
        cond_BD = self.class_emb(label_B)
        sos = cond_BD.unsqueeze(1) + self.pos_start.expand(B, first_l, -1)
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.to(self.word_embed.weight.dtype))), dim=1)
        x = x + self.pos_for(patch_nums)
        attn_bias = block_causal_mask(patch_nums).to(x)
        for b in self.blocks:
            x = b(x, cond_BD, attn_bias)
        return self.head_logits(x, cond_BD)

    # --- sampling (KV cache) ---
    @torch.no_grad()
    def autoregressive_infer_cfg(self, B, label_B, infer_patch_nums=None, g_seed=None, cfg=1.5, top_k=0, top_p=0.0,
                                 max_pn=16, used_llamagen_cfg=False, invalid_ids=None, return_all=False):
        """§5.3. infer_patch_nums: ints or (h, w) pairs. label_B: None (drawn with the generator), int (< 0: null
        class) or LongTensor. Returns the image in [0, 1] (clamped; decoded from the LAST step's codes only), plus,
        with return_all, a per-step trace of the guided logits (before top-k/top-p) and ids."""
        pns = [_hw(p) for p in (infer_patch_nums or self.patch_nums)]
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
        pos = self.pos_for(pns)
        x_next = sos.unsqueeze(1) + self.pos_start.expand(2 * B, 1, -1) + pos[:, :1]
        for b in self.blocks:
            b.attn.kv_caching(True)
        cur_L, n, trace = 0, len(pns), []
        try:
            for si, (h, w) in enumerate(pns):
                ratio = si / min(n - 1, 9) if n > 1 else 0.0
                cur_L += h * w
                x = x_next
                for b in self.blocks:
                    x = b(x, cond_BD, None)
                logits = self.head_logits(x, cond_BD)
                if invalid_ids is not None:
                    logits[:, :, invalid_ids] = -100.0
                if used_llamagen_cfg:
                    logits = logits[B:] + cfg * (logits[:B] - logits[B:])
                else:
                    t = cfg * ratio if max(h, w) <= max_pn else cfg
                    logits = (1 + t) * logits[:B] - t * logits[B:]
                raw = logits.clone() if return_all else None
                greedy = max(h, w) > max_pn or h not in SAMPLED_SIDES or w not in SAMPLED_SIDES
                idx_Bl = sample_with_top_k_top_p_(logits, top_k=1 if greedy else top_k, top_p=top_p, rng=rng)[:, :, 0]
                if return_all:
                    trace.append(dict(logits=raw, idx=idx_Bl, hw=(h, w), greedy=greedy))
                if si != n - 1:
                    nxt = self.codes_to_next_input(idx_Bl, (h, w), pns[si + 1])
                    x_next = (self.word_embed(nxt) + pos[:, cur_L:cur_L + pns[si + 1][0] * pns[si + 1][1]]).repeat(2, 1, 1)
        finally:
            for b in self.blocks:
                b.attn.kv_caching(False)
        img = self.vae_proxy[0].idx_to_img(idx_Bl, pns[-1]).clamp_(-1, 1).add_(1).mul_(0.5)
        return (img, trace) if return_all else img
