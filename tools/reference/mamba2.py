"""Pure-PyTorch Mamba-2 ("SSD") layer under mamba_ssm's parameter names (`mamba_ssm.modules.mamba2.Mamba2`),
written from the Mamba-2 paper (Dao & Gu 2024: the SSD recurrence, §3, and its chunked algorithm, §6). No CUDA/Triton kernels, no mamba_ssm import.

Parameters (state-dict keys, shapes as in mamba_ssm; E = expand*d_model, H = E/headdim, G = ngroups, N = d_state):
    in_proj.weight  [2E + 2GN + H, d_model]   rows: z (E) | x (E) | B (GN) | C (GN) | dt (H)
    conv1d.weight   [E + 2GN, 1, d_conv]      depthwise causal conv over the xBC channels; conv1d.bias [E + 2GN]
    dt_bias [H], A_log [H], D [H] (or [E] with D_has_hdim), norm.weight [E] (gated RMSNorm), out_proj.weight [d_model, E]

Three execution forms, all the same math (token recurrence of §2.2):
    step(u [B,1,D], conv_state, ssm_state)            one token; states updated IN PLACE (as mamba_ssm's `step`)
    forward(u [B,L,D])                                 full sequence from zero state, chunked SSD (matmuls)
    forward(u, conv_state, ssm_state, return_final_states=True) -> (out, conv_state', ssm_state')
                                                       one segment with carried state (functional: new tensors)
State layout = mamba_ssm's `allocate_inference_cache`:
    conv_state [B, E + 2GN, d_conv]: the last d_conv pre-conv xBC inputs, newest in the last column
                                     (only the last d_conv-1 columns influence the next token)
    ssm_state  [B, H, headdim, d_state]
The scan (conv excluded) runs with autocast disabled in float32 (float64 if the module is double), like the
kernels, which keep A and the state in fp32.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNormGated(nn.Module):
    """mamba_ssm.ops.triton.layernorm_gated.RMSNorm: y = rmsnorm(x * silu(z)) * weight (norm_before_gate=False),
    or rmsnorm(x) * weight * silu(z) (norm_before_gate=True); the RMS runs over groups of `group_size` channels."""

    def __init__(self, hidden_size, eps=1e-5, group_size=None, norm_before_gate=True):
        super().__init__()
        self.eps, self.group_size, self.norm_before_gate = eps, group_size or hidden_size, norm_before_gate
        self.weight = nn.Parameter(torch.ones(hidden_size))

    def forward(self, x, z=None):
        dtype = x.dtype
        ct = torch.promote_types(dtype, torch.float32)
        x = x.to(ct)
        if z is not None and not self.norm_before_gate:
            x = x * F.silu(z.to(ct))
        xg = x.unflatten(-1, (-1, self.group_size))
        out = (xg * torch.rsqrt(xg.square().mean(-1, keepdim=True) + self.eps)).flatten(-2) * self.weight.to(ct)
        if z is not None and self.norm_before_gate:
            out = out * F.silu(z.to(ct))
        return out.to(dtype)


def _segsum_exp(a):
    """a [..., T] (log-decays per step) -> [..., T, T] with [t, s] = exp(sum_{s<r<=t} a_r) for s <= t, else 0."""
    T = a.shape[-1]
    cs = a.cumsum(-1)
    diff = cs[..., :, None] - cs[..., None, :]
    mask = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()
    return diff.masked_fill(~mask, -math.inf).exp()


def ssd_chunked(x, dt, A, B, C, chunk_size=64, D=None, initial_state=None):
    """Chunked state-space-dual scan. x [b,l,h,p], dt [b,l,h] (already softplus'ed), A [h] (negative),
    B, C [b,l,g,n], D [h] or [h,p] or None, initial_state [b,h,p,n] or None.
    Returns y [b,l,h,p] and the final state [b,h,p,n]. Computes
        S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T ;  y_t = S_t C_t + D x_t
    with O(l * chunk) work inside chunks (matmuls) and a small matrix recurrence across chunks."""
    b, l, h, p = x.shape
    g, n = B.shape[-2], B.shape[-1]
    Q = max(1, min(chunk_size, l))
    pad = (-l) % Q
    if pad:  # padded steps: dt = 0 -> no decay and no input, so outputs and final state are unaffected
        x, dt, B, C = (F.pad(t, (0, 0) * (t.ndim - 2) + (0, pad)) for t in (x, dt, B, C))
    c = x.shape[1] // Q
    j = h // g                                            # heads per group; head index = group * j + i
    x = x.view(b, c, Q, g, j, p)
    dt = dt.view(b, c, Q, g, j)
    B = B.view(b, c, Q, g, n)
    C = C.view(b, c, Q, g, n)
    a = (dt * A.view(g, j)).permute(0, 3, 4, 1, 2)       # [b,g,j,c,Q] log decay per step
    acs = a.cumsum(-1)                                    # within-chunk cumulative
    xdt = x * dt.unsqueeze(-1)                            # [b,c,Q,g,j,p]

    # 1. intra-chunk (diagonal blocks): y[t] = sum_{s<=t} (C_t.B_s) exp(acs_t - acs_s) dt_s x_s
    CB = torch.einsum('bctgn,bcsgn->bcgts', C, B)          # [b,c,g,Q,Q], shared by the heads of a group
    M = CB.unsqueeze(3) * _segsum_exp(a).permute(0, 3, 1, 2, 4, 5)     # [b,c,g,j,Q,Q]
    y = torch.einsum('bcgjts,bcsgjp->bctgjp', M, xdt)

    # 2. state contributed by each chunk alone (zero start): sum_s exp(acs_end - acs_s) dt_s x_s B_s^T
    decay_to_end = (acs[..., -1:] - acs).exp().permute(0, 3, 4, 1, 2)   # [b,c,Q,g,j]
    states = torch.einsum('bcsgn,bcsgjp->bcgjpn', B, xdt * decay_to_end.unsqueeze(-1))

    # 3. across chunks: state entering chunk k = sum_{i<=k} exp(sum of chunk totals i..k-1) * states_i
    if initial_state is None:
        initial_state = x.new_zeros(b, h, p, n)
    states = torch.cat([initial_state.to(x.dtype).view(b, 1, g, j, p, n), states], dim=1)   # [b,c+1,g,j,p,n]
    chunk_decay = _segsum_exp(F.pad(acs[..., -1], (1, 0)))                                 # [b,g,j,c+1,c+1]
    states = torch.einsum('bgjzk,bkgjpn->bzgjpn', chunk_decay, states)
    entering, final = states[:, :-1], states[:, -1].reshape(b, h, p, n)

    # 4. contribution of the entering state: y[t] += exp(acs_t) C_t . S_enter
    y = y + torch.einsum('bctgn,bcgjpn->bctgjp', C, entering) * acs.exp().permute(0, 3, 4, 1, 2).unsqueeze(-1)
    if D is not None:
        y = y + x * (D.view(g, j, p) if D.ndim == 2 else D.view(g, j, 1))
    y = y.reshape(b, c * Q, h, p)[:, :l]
    return y, final


class Mamba2(nn.Module):
    def __init__(self, d_model, d_state=128, d_conv=4, conv_init=None, expand=2, headdim=64, ngroups=1,
                 A_init_range=(1, 16), D_has_hdim=False, rmsnorm=True, norm_before_gate=False, dt_min=0.001,
                 dt_max=0.1, dt_init_floor=1e-4, dt_limit=(0.0, float('inf')), bias=False, conv_bias=True,
                 chunk_size=64, layer_idx=None, device=None, dtype=None):
        fk = dict(device=device, dtype=dtype)
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = self.d_ssm = expand * d_model
        self.headdim, self.ngroups = headdim, ngroups
        assert self.d_ssm % headdim == 0
        self.nheads = self.d_ssm // headdim
        assert self.nheads % ngroups == 0
        self.D_has_hdim, self.rmsnorm, self.norm_before_gate = D_has_hdim, rmsnorm, norm_before_gate
        self.dt_limit, self.chunk_size, self.layer_idx = tuple(dt_limit), chunk_size, layer_idx
        self.conv_dim = self.d_ssm + 2 * ngroups * d_state

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * ngroups * d_state + self.nheads, bias=bias, **fk)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1,
                                bias=conv_bias, **fk)
        if conv_init is not None:
            nn.init.uniform_(self.conv1d.weight, -conv_init, conv_init)
        # dt_bias = softplus^-1(dt), dt log-uniform in [dt_min, dt_max]; A uniform in A_init_range (mamba_ssm init)
        dt = torch.exp(torch.rand(self.nheads, **fk) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        A = torch.empty(self.nheads, dtype=torch.float32, device=device).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A).to(dtype=dtype))
        self.D = nn.Parameter(torch.ones(self.d_ssm if D_has_hdim else self.nheads, device=device))
        for prm in (self.dt_bias, self.A_log, self.D):
            prm._no_weight_decay = True
        if rmsnorm:
            self.norm = RMSNormGated(self.d_ssm, eps=1e-5, norm_before_gate=norm_before_gate,
                                     group_size=self.d_ssm // ngroups)
            if device is not None or dtype is not None:
                self.norm.to(**{k: v for k, v in fk.items() if v is not None})
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)

    # ---------------------------------------------------------------- helpers
    def _ct(self):
        """compute dtype of the scan: fp32, or fp64 for a double module."""
        return torch.promote_types(self.A_log.dtype, torch.float32)

    def _split(self, zxbcdt):
        E, GN = self.d_ssm, self.ngroups * self.d_state
        return torch.split(zxbcdt, [E, E + 2 * GN, self.nheads], dim=-1)  # z, xBC, dt

    def _dt(self, dt):
        dt = F.softplus(dt + self.dt_bias.to(dt.dtype))
        if self.dt_limit != (0.0, float('inf')):
            dt = dt.clamp(*self.dt_limit)
        return dt

    def _D(self, ct):
        return self.D.to(ct).view(self.nheads, self.headdim) if self.D_has_hdim else self.D.to(ct)

    def allocate_inference_cache(self, batch_size, max_seqlen=None, dtype=None, device=None):
        device = device or self.out_proj.weight.device
        conv_state = torch.zeros(batch_size, self.conv_dim, self.d_conv, device=device,
                                 dtype=dtype or self.conv1d.weight.dtype)
        ssm_state = torch.zeros(batch_size, self.nheads, self.headdim, self.d_state, device=device,
                                dtype=dtype or self._ct())
        return conv_state, ssm_state

    # ---------------------------------------------------------------- full sequence / segment
    def forward(self, u, conv_state=None, ssm_state=None, return_final_states=False):
        """u [B, L, d_model]. Without states: zero initial state (training / M-VAR full pass). With states: the
        segment continues from them. Returns out, or (out, conv_state', ssm_state') if return_final_states."""
        Bsz, L, _ = u.shape
        K = self.d_conv
        z, xBC, dt = self._split(self.in_proj(u))
        xBC_t = xBC.transpose(1, 2)                                            # [B, conv_dim, L]
        if conv_state is None:
            hist = xBC_t.new_zeros(Bsz, self.conv_dim, K - 1)
        else:
            hist = conv_state[:, :, 1:].to(xBC_t.dtype)
        full = torch.cat([hist, xBC_t], dim=2)                                 # [B, conv_dim, K-1+L]
        xc = F.conv1d(full, self.conv1d.weight.to(full.dtype),
                      None if self.conv1d.bias is None else self.conv1d.bias.to(full.dtype), groups=self.conv_dim)
        xBC = F.silu(xc).transpose(1, 2)                                       # [B, L, conv_dim]
        new_conv = None
        if return_final_states:
            prev = conv_state.to(xBC_t.dtype) if conv_state is not None else xBC_t.new_zeros(Bsz, self.conv_dim, K)
            new_conv = torch.cat([prev, xBC_t], dim=2)[:, :, -K:]

        ct = self._ct()
        with torch.autocast(device_type=u.device.type, enabled=False):
            E, GN = self.d_ssm, self.ngroups * self.d_state
            x, Bm, Cm = torch.split(xBC.to(ct), [E, GN, GN], dim=-1)
            dtv = self._dt(dt.to(ct))
            A = -torch.exp(self.A_log.to(ct))
            y, final = ssd_chunked(x.view(Bsz, L, self.nheads, self.headdim), dtv, A,
                                   Bm.view(Bsz, L, self.ngroups, self.d_state),
                                   Cm.view(Bsz, L, self.ngroups, self.d_state), self.chunk_size, self._D(ct),
                                   None if ssm_state is None else ssm_state.to(ct))
            y = y.reshape(Bsz, L, E)
            if self.rmsnorm:
                y = self.norm(y, z.to(ct))
            else:
                y = y * F.silu(z.to(ct))
        out = self.out_proj(y if torch.is_autocast_enabled() else y.to(self.out_proj.weight.dtype))
        if return_final_states:
            return out, new_conv.to(conv_state.dtype if conv_state is not None else new_conv.dtype), \
                final.to(ssm_state.dtype if ssm_state is not None else final.dtype)
        return out

    # ---------------------------------------------------------------- one token
    def step(self, u, conv_state, ssm_state):
        """u [B, 1, d_model]; conv_state, ssm_state as from allocate_inference_cache, updated in place.
        Returns (out [B, 1, d_model], conv_state, ssm_state)."""
        assert u.shape[1] == 1
        z, xBC, dt = self._split(self.in_proj(u[:, 0]))
        conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
        conv_state[:, :, -1] = xBC.to(conv_state.dtype)
        xc = (conv_state * self.conv1d.weight[:, 0, :].to(conv_state.dtype)).sum(-1)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias.to(xc.dtype)
        ct = self._ct()
        with torch.autocast(device_type=u.device.type, enabled=False):
            xBC = F.silu(xc).to(ct)
            E, GN = self.d_ssm, self.ngroups * self.d_state
            x, Bm, Cm = torch.split(xBC, [E, GN, GN], dim=-1)
            hg = self.nheads // self.ngroups
            x = x.view(-1, self.nheads, self.headdim)
            Bm = Bm.view(-1, self.ngroups, self.d_state).repeat_interleave(hg, dim=1)   # [B,H,N]
            Cm = Cm.view(-1, self.ngroups, self.d_state).repeat_interleave(hg, dim=1)
            dtv = self._dt(dt.to(ct))                                                      # [B,H]
            dA = torch.exp(dtv * -torch.exp(self.A_log.to(ct)))
            S = ssm_state.to(ct) * dA[:, :, None, None] + (dtv[:, :, None] * x)[..., None] * Bm[:, :, None, :]
            ssm_state.copy_(S)
            y = torch.einsum('bhpn,bhn->bhp', S, Cm)
            D = self._D(ct)
            y = y + x * (D if D.ndim == 2 else D[:, None])
            y = y.reshape(-1, E)
            if self.rmsnorm:
                y = self.norm(y, z.to(ct))
            else:
                y = y * F.silu(z.to(ct))
        out = self.out_proj(y if torch.is_autocast_enabled() else y.to(self.out_proj.weight.dtype))
        return out.unsqueeze(1), conv_state, ssm_state

    # ---------------------------------------------------------------- oracle
    def forward_recurrent(self, u, conv_state=None, ssm_state=None):
        """Token-by-token loop over `step` (the parity oracle). Returns (out, conv_state, ssm_state)."""
        if conv_state is None:
            conv_state, ssm_state = self.allocate_inference_cache(u.shape[0], dtype=None, device=u.device)
            conv_state = conv_state.to(u.dtype)
        else:
            conv_state, ssm_state = conv_state.clone(), ssm_state.clone()
        outs = [self.step(u[:, t:t + 1], conv_state, ssm_state)[0] for t in range(u.shape[1])]
        return torch.cat(outs, dim=1), conv_state, ssm_state
