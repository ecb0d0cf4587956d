#!/usr/bin/env python3
"""PyTorch eager baseline for saddle's `adam_10000_steps_rosenbrock_2d` benchmark.

The same loop as benches/expr.rs: 10 000 Adam steps (lr = 1e-3, torch defaults otherwise) on
the 2-D Rosenbrock function written as an expression, f = (1 - x)^2 + 100 (y - x^2)^2, from
x0 = (-1.5, 2), float64 on CPU. Each step is: zero_grad, forward, backward, optimizer.step.

Two variants are timed:
  * bare:     forward, backward, step - the minimum eager PyTorch needs;
  * recorded: also reads f(x_k) and ||grad f(x_k)|| back as Python floats every step, which is
              what saddle's executor does (it records loss and gradient norm at every step).

Usage:  python3 torch_rosenbrock_adam.py [--repeats 5] [--steps 10000] [--threads 1]
Prints the median and best wall time per 10 000-step run, and the final loss, which should
equal saddle's final loss up to rounding (the step loop matches torch.optim.Adam exactly).
"""

import argparse
import statistics
import time

import torch


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def run(steps: int, record: bool) -> tuple[float, float]:
    """Runs the loop once; returns (seconds, final loss)."""
    p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-3)
    losses = []
    norms = []
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = rosenbrock(p)
        loss.backward()
        if record:
            losses.append(loss.item())
            norms.append(p.grad.norm().item())
        opt.step()
    with torch.no_grad():
        final = rosenbrock(p).item()
    elapsed = time.perf_counter() - start
    return elapsed, final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    # One intra-op thread, like saddle's single-threaded executor; tiny tensors gain nothing
    # from more.
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} steps, float64")

    for record in (False, True):
        name = "recorded" if record else "bare"
        run(min(args.steps, 500), record)  # warm-up: allocator, autograd, dispatcher caches
        times = []
        final = float("nan")
        for _ in range(args.repeats):
            seconds, final = run(args.steps, record)
            times.append(seconds)
        per_step_us = statistics.median(times) / args.steps * 1e6
        print(
            f"{name:>8}: median {statistics.median(times) * 1e3:8.2f} ms, "
            f"best {min(times) * 1e3:8.2f} ms per run ({per_step_us:.2f} us/step), "
            f"final loss {final!r}"
        )


if __name__ == "__main__":
    main()
