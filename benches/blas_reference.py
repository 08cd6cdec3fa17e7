"""The tuned-BLAS reference for benches/matmul.rs and `gpuinit bench`: numpy's f32 matmul
(OpenBLAS in the wheels) on the same shapes and layouts, median GFLOP/s over repeats:
square forward products C[n, n] = A[n, n] @ W[n, n].T, and one deep layer's three products
(batch 256, width 1024): forward X @ W.T, backward (input gradient) dY @ W, weight gradient
dY.T @ X.

    python3 benches/blas_reference.py

Run it right after `cargo bench --bench matmul -- cpu_matmul` (or `gpuinit bench`) on an
otherwise idle machine; on machines that set OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE (to work
around old OpenBLAS bugs), unset both for this command only, or OpenBLAS runs a slower kernel.
"""
import time

import numpy as np

try:
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        print(f"{lib['internal_api']} {lib.get('version')} kernel {lib.get('architecture')}, {lib['num_threads']} threads")
except ImportError:
    pass
print(f"numpy {np.__version__}")
rng = np.random.default_rng(1)


def normal(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


def median_gflops(name, flops, product):
    product()
    times = []
    for _ in range(max(10, int(2e10 / flops))):
        t = time.perf_counter()
        product()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"numpy {name}: median {flops / times[len(times) // 2] / 1e9:.1f} GFLOP/s (best {flops / times[0] / 1e9:.1f})")


for n in (512, 1024, 2048):
    a, w = normal(n, n), normal(n, n)
    median_gflops(f"forward square {n}x{n}x{n}", 2.0 * n**3, lambda: a @ w.T)
batch, width = 256, 1024
x, w, dy = normal(batch, width), normal(width, width), normal(batch, width)
flops = 2.0 * batch * width * width
median_gflops(f"forward layer {batch}x{width}x{width}", flops, lambda: x @ w.T)
median_gflops(f"backward layer {batch}x{width}x{width}", flops, lambda: dy @ w)
median_gflops(f"weight gradient layer {width}x{width}x{batch}", flops, lambda: dy.T @ x)
