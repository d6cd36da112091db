"""Writes Tests/EngineTests/Fixtures/checkpoints/shapes.json: the state-dict key -> shape tables of official
architectures built with non-default constructor arguments (and the released ones), for the Swift tests that read a
config back from an official checkpoint's shapes alone.

Every model is built on PyTorch's `meta` device (shapes only, no memory, no weights) from the reference classes under
the official parameter names (tools/reference/{vqvae,flexvqvae,var,flexvar}.py). Each case records the constructor
arguments and the config the reader must infer, under the names of Scalewise's configs (the official names, plus
`default_qresi_counts` for share_quant_resi = 0 and LlamaGen's `encoder_ch_mult` / `decoder_ch_mult`).

    python tools/reference/make_checkpoint_fixtures.py
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from flexvar import FlexVAR  # noqa: E402
from flexvqvae import FlexVQVAE  # noqa: E402
from var import VAR  # noqa: E402
from vqvae import VQVAE  # noqa: E402

OUT = os.path.join(HERE, '..', '..', 'Tests', 'EngineTests', 'Fixtures', 'checkpoints', 'shapes.json')
SKIP = ('attn_bias_for_masking', 'lvl_1L', 'zero_k_bias', 'ema_vocab_hit_SV', 'codebook_used')


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items() if k.split('.')[-1] not in SKIP}


def vq_case(name, expect, **kw):
    with torch.device('meta'):
        m = VQVAE(**kw)
    return name, dict(kind='vqvae', constructor=kw, expect=expect, shapes=shapes(m)), m


def flex_case(name, expect, **kw):
    with torch.device('meta'):
        m = FlexVQVAE(**kw)
    return name, dict(kind='flexvqvae', constructor=kw, expect=expect, shapes=shapes(m)), m


def main():
    cases = {}
    released = dict(vocab_size=4096, z_channels=32, ch=160, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2,
                    share_quant_resi=4, using_sa=True, using_mid_sa=True)
    n, c, vae = vq_case('vae_ch160v4096z32', released)
    cases[n] = c
    n, c, _ = vq_case('vqvae_ch32_shared_phi', dict(vocab_size=512, z_channels=16, ch=32, ch_mult=[1, 2, 2],
                                                   num_res_blocks=1, share_quant_resi=1, using_sa=False,
                                                   using_mid_sa=True),
                      vocab_size=512, z_channels=16, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1,
                      share_quant_resi=1, using_sa=False)
    cases[n] = c
    n, c, _ = vq_case('vqvae_ch64_phi_per_scale', dict(vocab_size=1024, z_channels=8, ch=64, ch_mult=[1, 1, 2],
                                                      num_res_blocks=3, share_quant_resi=0, default_qresi_counts=6,
                                                      using_sa=True, using_mid_sa=False),
                      vocab_size=1024, z_channels=8, ch=64, ch_mult=(1, 1, 2), num_res_blocks=3, share_quant_resi=0,
                      using_mid_sa=False, v_patch_nums=(1, 2, 3, 4, 6, 8))
    cases[n] = c
    n, c, _ = vq_case('vqvae_ch32_three_phis', dict(vocab_size=64, z_channels=8, ch=32, ch_mult=[1, 2],
                                                   num_res_blocks=1, share_quant_resi=3),
                      vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 2), num_res_blocks=1, share_quant_resi=3)
    cases[n] = c
    n, c, _ = vq_case('vqvae_ch32_wide_first_level', dict(vocab_size=64, z_channels=8, ch=32, ch_mult=[2, 3],
                                                         num_res_blocks=1, share_quant_resi=4),
                      vocab_size=64, z_channels=8, ch=32, ch_mult=(2, 3), num_res_blocks=1)
    cases[n] = c
    n, c, _ = flex_case('FlexVAE', dict(codebook_size=8912, codebook_embed_dim=32, z_channels=256, ch=128,
                                        ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2))
    cases[n] = c
    n, c, flexvae = flex_case('flexvq_4096_split_mult',
                              dict(codebook_size=4096, codebook_embed_dim=8, z_channels=64, ch=32, ch_mult=[1, 1, 2, 4],
                                   encoder_ch_mult=[1, 2, 2, 4], decoder_ch_mult=[1, 1, 2, 4], num_res_blocks=1),
                              codebook_size=4096, codebook_embed_dim=8, z_channels=64, ch=32, ch_mult=(1, 1, 2, 4),
                              encoder_ch_mult=(1, 2, 2, 4), decoder_ch_mult=(1, 1, 2, 4), num_res_blocks=1)
    cases[n] = c
    with torch.device('meta'):
        var = VAR(vae, depth=16, embed_dim=1024, num_heads=16)
        var512 = VAR(vae, depth=2, embed_dim=64, num_heads=2, patch_nums=(1, 2, 3, 4, 6, 9, 13, 18, 24, 32))
        odd = VAR(vae, depth=2, embed_dim=64, num_heads=2, patch_nums=(1, 2, 4, 8, 16))
        flex = FlexVAR(flexvae, depth=2, embed_dim=64, num_heads=2, num_classes=10)
    cases['var_d16'] = dict(kind='var', constructor=dict(depth=16), shapes=shapes(var),
                            expect=dict(depth=16, embed_dim=1024, num_heads=16, num_classes=1000, vocab_size=4096,
                                        Cvae=32, patch_nums=[1, 2, 3, 4, 5, 6, 8, 10, 13, 16]))
    cases['var_512_schedule'] = dict(kind='var', constructor=dict(depth=2, patch_nums=[1, 2, 3, 4, 6, 9, 13, 18, 24, 32]),
                                     shapes=shapes(var512),
                                     expect=dict(depth=2, embed_dim=64, patch_nums=[1, 2, 3, 4, 6, 9, 13, 18, 24, 32]))
    cases['var_unreleased_schedule'] = dict(kind='var', constructor=dict(depth=2, patch_nums=[1, 2, 4, 8, 16]),
                                            shapes=shapes(odd), expect=dict(patch_nums=[1, 2, 4, 8, 16]))
    cases['flexvar_4096'] = dict(kind='flexvar', constructor=dict(depth=2, embed_dim=64, num_classes=10),
                                 shapes=shapes(flex),
                                 expect=dict(depth=2, embed_dim=64, num_heads=2, num_classes=10, vocab_size=4096,
                                             Cvae=8, pos_side=32))
    with open(OUT, 'w') as f:
        json.dump(cases, f, indent=None, separators=(',', ':'), sort_keys=True)
        f.write('\n')
    print(OUT, os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()
