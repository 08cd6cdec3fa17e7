#!/usr/bin/env python3
"""`gpuinit init` against its anchors, in one run (docs/PERFORMANCE.md, "Whole checkpoints").

    python3 benches/init_reference.py [--gpuinit target/release/gpuinit] [--disk DIR]
                                      [--shm DIR] [--reps 5] [--models small,medium,large]

For each GPT-2 config (small, medium, large; vocabulary 50257, 1024 positions), in f32:

  * gpuinit init to the disk and to /dev/shm, on each device (cpu, gpu), and with
    --discard (generation alone, output discarded);
  * dd of the same byte count from /dev/zero to the same place, 16 MiB blocks, with
    conv=fsync (gpuinit syncs each file once, before renaming it into place): through the
    page cache, and with oflag=direct past it, as gpuinit writes checkpoint files where
    the file system allows;
  * transformers: GPT2LMHeadModel(GPT2Config(...)) (construction, which initializes), then
    save_pretrained to the same place (safetensors), where torch and transformers import.

Medians of --reps runs, gpuinit's and dd's taken in turn (transformers: one run each,
it is the slow side). GB is 10^9 bytes
of files written (headers included), as `gpuinit init` and `dd` count them.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MODELS = {
    "small": dict(n_embd=768, n_layer=12, n_head=12),
    "medium": dict(n_embd=1024, n_layer=24, n_head=16),
    "large": dict(n_embd=1280, n_layer=36, n_head=20),
}


def config(name):
    c = dict(model_type="gpt2", vocab_size=50257, n_positions=1024, initializer_range=0.02)
    c.update(MODELS[name])
    return c


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def gpuinit(args, cfg, out, device):
    """Seconds for one run, and the bytes of the files it leaves in `out` (None: --discard)."""
    base = [args.gpuinit, "init", "--config", cfg, "--seed", "1", "--device", device]
    if out is None:
        return timed(base + ["--discard"]), None
    shutil.rmtree(out, ignore_errors=True)
    s = timed(base + ["--out", out])
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if f.endswith(".safetensors"))
    shutil.rmtree(out, ignore_errors=True)
    return s, size


def dd(path, nbytes, direct=False):
    count = (nbytes + (1 << 24) - 1) >> 24
    cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=16M", f"count={count}", "conv=fsync"]
    try:
        s = timed(cmd + (["oflag=direct"] if direct else []))
    except subprocess.CalledProcessError:
        s = float("nan")  # a file system without O_DIRECT
    if os.path.exists(path):
        os.remove(path)
    return s, count << 24


def interleaved(args, cfg, root):
    """Median seconds of gpuinit on each device and of dd, the runs taken in turn so that a
    slow spell of the disk falls on all of them alike."""
    out, devices = os.path.join(root, "ckpt"), args.devices.split(",")
    times = {d: [] for d in devices + ["dd", "dd direct"]}
    for _ in range(args.reps):
        for d in devices:
            s, size = gpuinit(args, cfg, out, d)
            times[d].append(s)
        s, dbytes = dd(os.path.join(root, "dd.bin"), size)
        times["dd"].append(s)
        times["dd direct"].append(dd(os.path.join(root, "dd.bin"), size, direct=True)[0])
    return {d: statistics.median(t) for d, t in times.items()}, size, dbytes


def transformers_run(cfg, out):
    try:
        import torch  # noqa: F401
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        return None
    t = time.perf_counter()
    model = GPT2LMHeadModel(GPT2Config(**cfg))
    construct = time.perf_counter() - t
    t = time.perf_counter()
    model.save_pretrained(out)
    save = time.perf_counter() - t
    size = dir_bytes(out)
    shutil.rmtree(out, ignore_errors=True)
    return construct, save, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpuinit", default="target/release/gpuinit")
    ap.add_argument("--disk", default=None, help="a folder on the disk (default: a temporary one in .)")
    ap.add_argument("--shm", default="/dev/shm")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default="small,medium,large")
    ap.add_argument("--devices", default="cpu,gpu")
    args = ap.parse_args()
    disk = tempfile.mkdtemp(prefix="gpuinit-bench-", dir=args.disk or ".")
    shm = tempfile.mkdtemp(prefix="gpuinit-bench-", dir=args.shm)
    rows = []
    try:
        for name in args.models.split(","):
            cfg_path = os.path.join(shm, f"{name}.json")
            with open(cfg_path, "w") as f:
                json.dump(config(name), f)
            spec = subprocess.run(
                [args.gpuinit, "init", "--config", cfg_path, "--print-spec"],
                check=True, capture_output=True, text=True,
            ).stdout
            tensors = json.loads(spec)["tensors"]
            params = sum(math.prod(t["shape"]) for t in tensors)
            for place, root in (("disk", disk), ("shm", shm)):
                med, size, dbytes = interleaved(args, cfg_path, root)
                for device in args.devices.split(","):
                    rows.append((name, place, f"gpuinit {device}", med[device], size))
                rows.append((name, place, "dd conv=fsync", med["dd"], dbytes))
                rows.append((name, place, "dd conv=fsync oflag=direct", med["dd direct"], dbytes))
                hf = transformers_run(config(name), os.path.join(root, "hf"))
                if hf:
                    c, sv, hsize = hf
                    rows.append((name, place, "transformers construct+save", c + sv, hsize))
                    rows.append((name, place, "  of which construct", c, hsize))
            for device in args.devices.split(","):
                s = statistics.median(gpuinit(args, cfg_path, None, device)[0] for _ in range(args.reps))
                rows.append((name, "none", f"gpuinit {device} --discard", s, size))
            print(f"{name}: {len(tensors)} tensors, {params:,} parameters, {size:,} bytes", flush=True)
    finally:
        shutil.rmtree(disk, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    print(f"\n{'model':<7} {'to':<5} {'what':<30} {'seconds':>8} {'GB/s':>7}")
    for name, place, what, s, size in rows:
        print(f"{name:<7} {place:<5} {what:<30} {s:8.2f} {size / s / 1e9:7.3f}")


if __name__ == "__main__":
    sys.exit(main())
