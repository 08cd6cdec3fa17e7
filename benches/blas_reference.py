"""The tuned-BLAS reference for benches/matmul.rs: numpy's f32 matmul (OpenBLAS in the
wheels) on the same shapes, C[m, n] = A[m, k] @ W[n, k].T, median GFLOP/s over repeats.

    python3 benches/blas_reference.py

Run it right after `cargo bench --bench matmul -- cpu_matmul` on an otherwise idle machine;
on machines that set OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE (to work around old OpenBLAS
bugs), unset both for this command only, or OpenBLAS runs a slower kernel.
"""
import time

import numpy as np

SHAPES = [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (256, 1024, 1024)]

try:
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        print(f"{lib['internal_api']} {lib.get('version')} kernel {lib.get('architecture')}, {lib['num_threads']} threads")
except ImportError:
    pass
print(f"numpy {np.__version__}")
rng = np.random.default_rng(1)
for m, n, k in SHAPES:
    a = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    a @ w.T
    flops = 2.0 * m * n * k
    times = []
    for _ in range(max(10, int(2e10 / flops))):
        t = time.perf_counter()
        a @ w.T
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"numpy {m}x{n}x{k}: median {flops / times[len(times) // 2] / 1e9:.1f} GFLOP/s (best {flops / times[0] / 1e9:.1f})")
