#!/usr/bin/env python3
"""Time one torch.optim.Adam / AdamW / SGD-momentum step in float64 on the CPU, to compare with
saddle's `cargo bench -p saddle-numeric --bench optimizer_step` (ns per parameter).

Not run in CI (torch is not installable there). Usage, on the same machine as the Rust bench:

    pip install torch numpy
    python3 crates/saddle-numeric/benches/torch_adam_step.py            # 1e6 and 1e7
    python3 crates/saddle-numeric/benches/torch_adam_step.py --sizes 1000000 --threads 1

Each configuration is timed for --repeats steps after --warmup steps, with a single flat
parameter tensor (as saddle optimizes one flat vector), the gradient set once and reused,
and the median reported. Variants: torch's default CPU path (single-tensor for-loop),
foreach=True, and fused=True (fused Adam/AdamW on CPU exists in torch >= 2.4; skipped with a
note where the installed torch rejects it).
"""

import argparse
import statistics
import time

import torch


def make_optimizer(name, variant, param):
    kwargs = {}
    if variant == "foreach":
        kwargs["foreach"] = True
    elif variant == "fused":
        kwargs["fused"] = True
    elif variant == "single":
        kwargs["foreach"] = False
    if name == "adam":
        return torch.optim.Adam([param], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **kwargs)
    if name == "adamw":
        return torch.optim.AdamW([param], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **kwargs)
    if name == "sgd_momentum":
        return torch.optim.SGD([param], lr=1e-3, momentum=0.9, **kwargs)
    raise ValueError(name)


def time_steps(name, variant, n, warmup, repeats):
    param = torch.full((n,), 0.5, dtype=torch.float64, requires_grad=True)
    # The same gradient pattern as the Rust bench: ((i % 1000) - 500) * 1e-3.
    idx = torch.arange(n, dtype=torch.float64)
    param.grad = (torch.remainder(idx, 1000.0) - 500.0) * 1e-3
    try:
        opt = make_optimizer(name, variant, param)
        opt.step()
    except (RuntimeError, ValueError, TypeError) as e:
        return None, str(e).splitlines()[0]
    for _ in range(warmup):
        opt.step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), None


def floor_4r3w(n, warmup, repeats):
    """The same traffic as Adam (read x, g, m, v; write x, m, v) with trivial arithmetic."""
    x = torch.full((n,), 0.5, dtype=torch.float64)
    g = torch.ones(n, dtype=torch.float64) * 1e-3
    m = torch.zeros(n, dtype=torch.float64)
    v = torch.zeros(n, dtype=torch.float64)
    def once():
        # Three in-place adds: 6 reads + 3 writes in torch (it cannot fuse them), so this is an
        # upper bound on torch's own floor; saddle's floor loop does 4 reads + 3 writes.
        m.add_(g)
        v.add_(g)
        x.add_(g)
    for _ in range(warmup):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (saddle is single-threaded)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    get_cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    capability = get_cap() if get_cap else "unknown"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, capability {capability}")
    print(f"{'optimizer':<14} {'variant':<8} {'N':>10} {'ms/step':>10} {'ns/param':>9}")
    for n in args.sizes:
        for name in ["sgd_momentum", "adam", "adamw"]:
            for variant in ["single", "foreach", "fused"]:
                t, err = time_steps(name, variant, n, args.warmup, args.repeats)
                if t is None:
                    print(f"{name:<14} {variant:<8} {n:>10} {'n/a':>10} {'':>9}  ({err})")
                else:
                    print(f"{name:<14} {variant:<8} {n:>10} {t * 1e3:>10.3f} {t * 1e9 / n:>9.3f}")
        t = floor_4r3w(n, args.warmup, args.repeats)
        print(f"{'floor_3x_add':<14} {'-':<8} {n:>10} {t * 1e3:>10.3f} {t * 1e9 / n:>9.3f}")


if __name__ == "__main__":
    main()
