"""A compiled attnc kernel as a torch.library custom op, with a fake (meta)
implementation so that torch.compile traces it without a graph break."""
import re

import torch

_LIB = torch.library.Library("attnc", "FRAGMENT")
_TORCH_OF = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32,
             "f64": torch.float64, "i32": torch.int32, "i64": torch.int64,
             "bool": torch.bool}


def register(kernel):
    op_name = re.sub(r"\W", "_", kernel.name) + "_" + kernel.cache_key[:12]
    if hasattr(torch.ops.attnc, op_name):
        return getattr(torch.ops.attnc, op_name)
    params = []
    for i in kernel.inputs:
        if i["is_scalar"]:
            kind = "int" if i["dtype"] in ("i32", "i64", "bool") else "float"
        else:
            kind = "Tensor"
        params.append("%s %s" % (kind, re.sub(r"\W", "_", i["name"])))
    results = ", ".join("Tensor" for _ in kernel.outputs)
    if len(kernel.outputs) > 1:
        results = "(" + results + ")"
    _LIB.define("%s(%s) -> %s" % (op_name, ", ".join(params), results))

    def real(*args):
        return kernel(*args)

    def fake(*args):
        # Each output dimension is a literal or a size symbol that an input
        # binds (a tensor's extent or an integer scalar of that name).
        symbols = {}
        for info, a in zip(kernel.inputs, args):
            if info["is_scalar"]:
                symbols.setdefault(info["name"], a)
                continue
            for d, extent in zip(info["dims"], a.shape):
                symbols.setdefault(d, extent)
        device = next(a.device for a, i in zip(args, kernel.inputs)
                      if not i["is_scalar"])
        outs = []
        for o in kernel.outputs:
            shape = [int(d) if d.isdigit() else symbols[d] for d in o["dims"]]
            outs.append(torch.empty(shape, dtype=_TORCH_OF[o["dtype"]],
                                    device=device))
        return outs[0] if len(outs) == 1 else tuple(outs)

    device = "CUDA" if kernel.target.startswith("cuda") else "CPU"
    _LIB.impl(op_name, real, device)
    torch.library.register_fake("attnc::" + op_name, fake, lib=_LIB)
    return getattr(torch.ops.attnc, op_name)
