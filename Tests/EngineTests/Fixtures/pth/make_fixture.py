"""Regenerates fixture.pth, the real torch.save output that WeightsTestsPth.swift checks value by value.
Run once with `python3 make_fixture.py`; the test recomputes every expected value from the same formulas."""
import argparse
import collections

import torch

sd = collections.OrderedDict()
for i in range(300):  # > 256 memo entries, so the pickle needs LONG_BINPUT/LONG_BINGET
    sd[f"blocks.{i}.w"] = torch.arange(3, dtype=torch.float32) * 0.25 + i
sd["half"] = torch.tensor([1.5, -2.0, 0.1, 65504.0], dtype=torch.float16)
sd["bf16"] = torch.tensor([1.0, -3.5, 2.0**100, 0.1], dtype=torch.bfloat16)
sd["lvl_1L"] = torch.tensor([0, 1, 2**40, -7], dtype=torch.int64)
sd["int32"] = torch.tensor([[-(2**31), 2**31 - 1]], dtype=torch.int32)
sd["noncontig"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()   # [4, 3], stride (1, 4)
sd["slice"] = torch.arange(10, dtype=torch.float32)[5:9]                    # storage_offset 5
sd["param"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))    # _rebuild_parameter
sd["q"] = torch.tensor([[1, -2, 3], [127, -128, 0]], dtype=torch.int8)
sd["q.qscale"] = torch.tensor([0.5, 0.25], dtype=torch.float16)
sd["mask"] = torch.tensor([True, False, True])
sd["bytes"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
sd["scalar"] = torch.tensor(2.5)
sd["empty"] = torch.zeros(0, 3)

lin = torch.nn.Linear(2, 3)  # a real module state dict carries _metadata, set by BUILD
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0], [0.0, 3.0]]))
    lin.bias.copy_(torch.tensor([0.125, -0.25, 4.0]))
vae = lin.state_dict()
vae["shared"] = sd["blocks.0.w"]  # same tensor object twice: memo BINGET of a tensor

ckpt = {
    "trainer": {"var_wo_ddp": sd, "step": 7},
    "model": vae,
    "args": argparse.Namespace(depth=16, name="d16"),  # an unknown class: must stay inert
    "epoch": 3,
    "lr": 1e-4,
    "big": 2**70,
}
torch.save(ckpt, "fixture.pth")
