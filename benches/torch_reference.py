"""The PyTorch anchor for the CPU reference's generation rates (`gpuinit bench --device cpu`
and `cargo bench --bench generate`): torch.nn.init on the CPU, in place, on the same sizes,
median Gsamples/s over repeats after a warm-up.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python benches/torch_reference.py [SIZES...]   # default: 1Mi 16Mi 64Mi

Sizes are element counts, with the suffixes k and Mi as `gpuinit bench --sizes` takes them.
Run it right after `gpuinit bench` on an otherwise idle machine; it uses every core, as
gpuinit's CPU reference does.
"""
import math
import sys
import time

import torch


def parse_size(text):
    for suffix, scale in (("Mi", 1 << 20), ("k", 1000)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * scale
    return int(text)


def label(n):
    return f"{n >> 20} Mi" if n % (1 << 20) == 0 else str(n)


# The same tensors gpuinit bench draws: a 4096 x 4096 layer's fans, so xavier's bound and
# std match; the tensor is that layer's weight reshaped to n elements.
FAN = 4096
INITS = [
    ("xavier_uniform_", lambda t: torch.nn.init.uniform_(t, -math.sqrt(6 / (2 * FAN)), math.sqrt(6 / (2 * FAN)))),
    ("normal_", lambda t: torch.nn.init.normal_(t, 0.0, 1.0)),
    ("xavier_normal_", lambda t: torch.nn.init.normal_(t, 0.0, math.sqrt(2 / (2 * FAN)))),
    ("trunc_normal_", lambda t: torch.nn.init.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0)),
]


def median_rate(n, init):
    t = torch.empty(n, dtype=torch.float32)
    init(t)
    times = []
    for _ in range(max(5, min(30, int(2e8 / n)))):
        start = time.perf_counter()
        init(t)
        times.append(time.perf_counter() - start)
    times.sort()
    return n / times[len(times) // 2] / 1e9


def main():
    sizes = [parse_size(s) for s in sys.argv[1:]] or [1 << 20, 16 << 20, 64 << 20]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for n in sizes:
        for name, init in INITS:
            print(f"torch.nn.init.{name:16} {label(n):>6}: {median_rate(n, init):.3f} Gsamples/s")


if __name__ == "__main__":
    main()
