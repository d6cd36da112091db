"""AiM (hp-l33/AiM, arXiv 2408.12245): raster-order next-token image generation with a Mamba-2-only backbone,
re-written from the paper (§3) and the official code under the official parameter names.

State-dict keys = the official checkpoint's minus the tokenizer (`vqvae.*` lives in the flexvqvae file):
    mamba.backbone.embeddings.word_embeddings.weight [V, D]      (tied: also mamba.lm_head.weight)
    mamba.backbone.embeddings.position_embeddings.weight [num_tokens+1, D]
    mamba.backbone.cls_embed.embedding_table.weight [num_classes+1, D]   (row num_classes = null class)
    mamba.backbone.layers.{i}.norm.weight [D]; .mixer.* (Mamba2, d_state 128); .adaLN_modulation.1.{weight,bias}
        [3D, D] (adaln_group=False) or .scale_shift_table [1, 3, D] (adaln_group=True)
    mamba.backbone.adaln_group.1.{weight,bias} [num_groups*3*D, D] (adaln_group=True only)
    mamba.backbone.norm_f.weight, mamba.backbone.final_layer.norm_final.weight [D],
    mamba.backbone.final_layer.adaLN_modulation.1.{weight,bias} [2D, D], mamba.lm_head.weight [V, D]

Sequence: [class embedding (no position), tok_0 + pos, ..., tok_{T-2} + pos] -> logits for tok_0..tok_{T-1}.
Positions: the official TRAINING pass gives image token k position k; the official SAMPLER (generation.py,
position_ids = seqlen_offset) gives it position k+1. `pos_shift` selects: 0 = training convention, 1 = released
sampler. `forward(..., pos_shift)` and `step` / `generate` with the same pos_shift agree exactly; the config key
`sample_pos_shift` says which one a checkpoint should be sampled with (official checkpoints: 1).

Layer i (prenorm, residual r in fp32): r = r + h_{i-1}; n = RMSNorm(r); h_i = gate * Mamba2(n(1+scale)+shift);
(shift, scale, gate) from adaLN_modulation(c) or scale_shift_table + adaln_group rows of group i % num_groups.
Final: o = RMSNorm_f(r + h_last); (shift, scale) = final_layer.adaLN_modulation(c); logits = E (RMSNorm(o)(1+scale)
+ shift). CFG (sampler): u + cfg*(c - u), constant; one token per image is fed to both rows.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamba2 import Mamba2


class RMSNorm(nn.Module):
    """mamba_ssm.ops.triton.layer_norm.RMSNorm (eps 1e-5, weight only)."""

    def __init__(self, hidden_size, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))

    def forward(self, x):
        ct = torch.promote_types(x.dtype, torch.float32)
        xf = x.to(ct)
        return (xf * torch.rsqrt(xf.square().mean(-1, keepdim=True) + self.eps) * self.weight.to(ct))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class GPT2Embeddings(nn.Module):
    def __init__(self, embed_dim, vocab_size, max_position_embeddings):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embed_dim)
        self.position_embeddings = nn.Embedding(max_position_embeddings, embed_dim)

    def forward(self, input_ids, position_ids):
        return self.word_embeddings(input_ids) + self.position_embeddings(position_ids)


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, hidden_size, dropout_prob=0.1):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, hidden_size)
        self.num_classes, self.dropout_prob = num_classes, dropout_prob

    def forward(self, labels, train):
        if train and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, self.num_classes, labels)
        return self.embedding_table(labels)


class GroupAdaLN(nn.Linear):
    def __init__(self, in_features, out_features, num_channels):
        super().__init__(in_features, out_features, bias=True)
        self.num_channels = num_channels

    def forward(self, cond):
        return super().forward(cond).view(-1, self.num_channels, self.weight.shape[0] // self.num_channels)


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, eps=1e-5):
        super().__init__()
        self.norm_final = RMSNorm(hidden_size, eps)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return modulate(self.norm_final(x), shift, scale)


class Block(nn.Module):
    def __init__(self, dim, mixer, adaln_group=False, eps=1e-5):
        super().__init__()
        self.norm = RMSNorm(dim, eps)
        self.mixer = mixer
        self.adaln_group = adaln_group
        if adaln_group:
            self.scale_shift_table = nn.Parameter(torch.randn(1, 3, dim) / dim ** 0.5)
        else:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))

    def modulation(self, ada):
        """ada: [B, 3, D] group rows (adaln_group) or the class embedding [B, D]. Returns shift, scale, gate."""
        if self.adaln_group:
            return (self.scale_shift_table + ada).unbind(1)
        return self.adaLN_modulation(ada).chunk(3, dim=1)

    def forward(self, hidden, residual, ada, state=None):
        """state None: Mamba over the whole sequence from zero state. state (conv, ssm) with hidden [B,1,D]: one
        step, states updated in place."""
        residual = hidden if residual is None else hidden + residual
        residual = residual.to(torch.promote_types(residual.dtype, torch.float32))   # residual_in_fp32
        h = self.norm(residual)
        shift, scale, gate = self.modulation(ada)
        h = modulate(h, shift, scale)
        if state is None:
            h = self.mixer(h)
        else:
            h = self.mixer.step(h, *state)[0]
        return gate.unsqueeze(1) * h, residual


class MixerModel(nn.Module):
    def __init__(self, d_model, n_layer, vocab_size, num_classes, num_tokens, adaln_group, num_groups,
                 norm_epsilon, cond_drop_rate, mamba_kw):
        super().__init__()
        self.embeddings = GPT2Embeddings(d_model, vocab_size, num_tokens + 1)
        self.cls_embed = LabelEmbedder(num_classes, d_model, cond_drop_rate)
        if adaln_group:
            self.adaln_group = nn.Sequential(nn.SiLU(inplace=False),
                                             GroupAdaLN(d_model, num_groups * 3 * d_model, num_groups * 3))
            self.num_groups = num_groups
        else:
            self.adaln_group = nn.Identity()
            self.num_groups = 1
        self.final_layer = FinalLayer(d_model, norm_epsilon)
        self.layers = nn.ModuleList([
            Block(d_model, Mamba2(d_model, layer_idx=i, **mamba_kw), adaln_group, norm_epsilon)
            for i in range(n_layer)])
        self.norm_f = RMSNorm(d_model, norm_epsilon)

    def ada_conds(self, cond_embed):
        return self.adaln_group(cond_embed).chunk(self.num_groups, dim=1)

    def run(self, hidden, cond_embed, states=None):
        ada = self.ada_conds(cond_embed)
        residual = None
        for i, layer in enumerate(self.layers):
            hidden, residual = layer(hidden, residual, ada[i % self.num_groups],
                                     None if states is None else states[i])
        residual = hidden + residual
        return self.final_layer(self.norm_f(residual), cond_embed)


class AiMLMHeadModel(nn.Module):
    def __init__(self, d_model, n_layer, vocab_size, num_classes, num_tokens, adaln_group, num_groups,
                 norm_epsilon, cond_drop_rate, tie_embeddings, mamba_kw):
        super().__init__()
        self.backbone = MixerModel(d_model, n_layer, vocab_size, num_classes, num_tokens, adaln_group, num_groups,
                                   norm_epsilon, cond_drop_rate, mamba_kw)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.backbone.embeddings.word_embeddings.weight


def sample_aim(logits, top_k=0, top_p=1.0, temperature=1.0, rng=None):
    """generation.py `sample`: top-k (ties kept) then top-p (ascending sort, cum. prob <= 1-top_p removed, the
    largest always kept), multinomial. logits [B, V], modified in place. The official sampler IGNORES temperature;
    here temperature != 1 divides the logits first (1.0 = official). top_k == 1 -> argmax (deterministic)."""
    if temperature != 1.0:
        logits.div_(temperature)
    if top_k > 0:
        top_k = min(top_k, logits.shape[-1])
        logits.masked_fill_(logits < torch.topk(logits, top_k)[0][..., -1, None], -torch.inf)
    if top_k == 1:
        return logits.argmax(dim=-1)
    if top_p < 1.0:
        sl, si = torch.sort(logits, descending=False)
        rm = sl.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        rm[..., -1:] = False
        logits.masked_fill_(rm.scatter(si.ndim - 1, si, rm), -torch.inf)
    return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=rng).squeeze(-1)


class AiM(nn.Module):
    def __init__(self, d_model=768, n_layer=24, vocab_size=16384, num_classes=1000, num_tokens=256,
                 adaln_group=False, num_groups=4, norm_epsilon=1e-5, cond_drop_rate=0.1, tie_embeddings=True,
                 d_state=128, d_conv=4, expand=2, headdim=64, chunk_size=64, sample_pos_shift=1):
        super().__init__()
        self.d_model, self.n_layer, self.V = d_model, n_layer, vocab_size
        self.num_classes, self.num_tokens = num_classes, num_tokens
        self.sample_pos_shift = sample_pos_shift
        self.config = dict(d_model=d_model, n_layer=n_layer, vocab_size=vocab_size, num_classes=num_classes,
                           num_tokens=num_tokens, adaln_group=adaln_group, num_groups=num_groups if adaln_group else 1,
                           norm_epsilon=norm_epsilon, tie_embeddings=tie_embeddings, d_state=d_state,
                           d_conv=d_conv, expand=expand, headdim=headdim, sample_pos_shift=sample_pos_shift)
        mamba_kw = dict(d_state=d_state, d_conv=d_conv, expand=expand, headdim=headdim, chunk_size=chunk_size)
        self.mamba = AiMLMHeadModel(d_model, n_layer, vocab_size, num_classes, num_tokens, adaln_group,
                                    num_groups, norm_epsilon, cond_drop_rate, tie_embeddings, mamba_kw)
        self._init_weights()

    def _init_weights(self, initializer_range=0.02):
        """Official init (mixer_seq_simple._init_weights + Block/FinalLayer): Linear biases 0, Embeddings N(0, 0.02),
        each Mamba out_proj kaiming-uniform / sqrt(n_layer), adaLN_modulation (blocks, final layer) zero;
        in_proj / conv1d / GroupAdaLN weight keep PyTorch's default init, scale_shift_table randn/sqrt(D)."""
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=initializer_range)
        bb = self.mamba.backbone
        for layer in bb.layers:
            nn.init.kaiming_uniform_(layer.mixer.out_proj.weight, a=math.sqrt(5))
            with torch.no_grad():
                layer.mixer.out_proj.weight /= math.sqrt(self.n_layer)
            if not layer.adaln_group:
                nn.init.zeros_(layer.adaLN_modulation[-1].weight)
                nn.init.zeros_(layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(bb.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(bb.final_layer.adaLN_modulation[-1].bias)

    def load_official_state_dict(self, sd, strict=True):
        """Official AiM state dict / safetensors: drops `vqvae.*`, aliases the tied head (only one of
        word_embeddings / lm_head may be stored)."""
        sd = {k: v for k, v in sd.items() if not k.startswith('vqvae.')}
        we, lm = 'mamba.backbone.embeddings.word_embeddings.weight', 'mamba.lm_head.weight'
        if we not in sd and lm in sd:
            sd[we] = sd[lm]
        if lm not in sd and we in sd:
            sd[lm] = sd[we]
        return self.load_state_dict(sd, strict=strict)

    def logits(self, h):
        ft = torch.promote_types(h.dtype, torch.float32)
        return self.mamba.lm_head(h.to(ft) if not torch.is_autocast_enabled() else h).to(ft)

    # --- teacher forcing (training) ---
    def forward(self, code, labels, pos_shift=0):
        """code [B, T] token ids (T <= num_tokens, row-major), labels [B]. Input = [class, code[:, :-1]] with
        positions k + pos_shift for token k (official training: 0). Returns logits [B, T, V]: logits[:, k] predicts
        code[:, k]. Label dropout (cond_drop_rate) applies in training mode only; it also drops the adaLN cond."""
        bb = self.mamba.backbone
        cond_embed = bb.cls_embed(labels, train=self.training)
        T = code.shape[1]
        pos = torch.arange(T - 1, device=code.device) + pos_shift
        tok = bb.embeddings(code[:, :-1], pos.unsqueeze(0))
        hidden = torch.cat([cond_embed.unsqueeze(1).to(tok.dtype), tok], dim=1)
        return self.logits(bb.run(hidden, cond_embed))

    # --- incremental (one token at a time) ---
    def init_states(self, batch, device=None):
        device = device or self.mamba.lm_head.weight.device
        return [layer.mixer.allocate_inference_cache(batch, device=device) for layer in self.mamba.backbone.layers]

    def step(self, input_ids, labels, states, seqlen_offset, pos_shift=None):
        """One sequence element. seqlen_offset 0: the class token (input_ids ignored); seqlen_offset j >= 1: image
        token j-1 = input_ids [B], at position j-1+pos_shift (official sampler: pos_shift 1 -> position j).
        States (from init_states) are updated in place. Returns logits [B, V] for image token seqlen_offset."""
        bb = self.mamba.backbone
        pos_shift = self.sample_pos_shift if pos_shift is None else pos_shift
        cond_embed = bb.cls_embed(labels, train=False)
        if seqlen_offset == 0:
            hidden = cond_embed.unsqueeze(1)
        else:
            pos = torch.full_like(input_ids, seqlen_offset - 1 + pos_shift)
            hidden = bb.embeddings(input_ids.unsqueeze(1), pos.unsqueeze(1))
        return self.logits(bb.run(hidden, cond_embed, states))[:, 0]

    @torch.no_grad()
    def generate(self, labels, cfg_scale=5.0, top_k=0, top_p=1.0, temperature=1.0, rng=None, pos_shift=None,
                 num_tokens=None, teacher=None, return_logits=False):
        """labels [B]. Rows [labels; null]; guided logits u + cfg*(c-u) every step; one token per image, fed to both
        rows. `teacher` [B, T]: feed these tokens instead of sampling (logit parity). Returns tokens [B, T]."""
        B = labels.shape[0]
        T = num_tokens or self.num_tokens
        rows = torch.cat([labels, torch.full_like(labels, self.num_classes)])
        states = self.init_states(2 * B, device=labels.device)
        tokens, all_logits, tok = [], [], None
        for j in range(T):
            lg = self.step(None if j == 0 else tok.repeat(2), rows, states, j, pos_shift)
            c, u = lg[:B], lg[B:]
            g = u + cfg_scale * (c - u)
            if return_logits:
                all_logits.append(g.clone())
            tok = teacher[:, j] if teacher is not None else sample_aim(g, top_k, top_p, temperature, rng)
            tokens.append(tok)
        tokens = torch.stack(tokens, dim=1)
        return (tokens, torch.stack(all_logits, dim=1)) if return_logits else tokens


def AiM_B(**kw):
    return AiM(d_model=768, n_layer=24, adaln_group=False, **kw)


def AiM_L(**kw):
    return AiM(d_model=1024, n_layer=48, adaln_group=True, num_groups=4, **kw)


def AiM_XL(**kw):
    return AiM(d_model=1536, n_layer=48, adaln_group=True, num_groups=4, **kw)
