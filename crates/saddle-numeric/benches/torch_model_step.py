#!/usr/bin/env python3
"""PyTorch counterpart of benches/model_step.rs: one training step (forward, backward,
Adam update, next batch) on CPU in float64.

Configurations, as in the Rust bench:
  * logistic regression, 10 000 x 100, full batch
  * logistic regression, 10 000 x 100, batches of 64 (reshuffled every epoch)
  * MLP 100-64-64-1 (relu), 10 000 rows, full batch
All use BCEWithLogitsLoss (mean) and torch.optim.Adam(lr=1e-3); the parameters are
initialized by torch.nn.Linear's default, like saddle's `torch_default`.

The data has the same shape and recipe as the Rust bench (standard normal features, label =
[x . w > 0] for a fixed random w) but comes from torch's generator, so the numbers differ:
only the timing is comparable.

Usage: python3 torch_model_step.py [--threads N] [--seconds S]
(--threads 1 for a like-for-like comparison with saddle on one thread; 2 to compare with
the `_2_threads` benchmarks, saddle's batch shards on two threads.)
"""
import argparse
import statistics
import time

import torch

ROWS, FEATURES = 10_000, 100


def dataset(seed=2024):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(FEATURES, generator=g, dtype=torch.float64)
    x = torch.randn(ROWS, FEATURES, generator=g, dtype=torch.float64)
    y = (x @ w > 0).to(torch.float64).unsqueeze(1)
    return x, y


def logistic():
    return torch.nn.Linear(FEATURES, 1, dtype=torch.float64)


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1, dtype=torch.float64),
    )


class Batches:
    """Mini-batches over a fresh permutation each epoch (batch_size None: the full set)."""

    def __init__(self, x, y, batch_size, seed=1):
        self.x, self.y, self.size = x, y, batch_size
        self.g = torch.Generator().manual_seed(seed)
        self.order = None
        self.pos = 0

    def next(self):
        if self.size is None:
            return self.x, self.y
        n = self.x.shape[0]
        if self.order is None or self.pos >= n:
            self.order = torch.randperm(n, generator=self.g)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.size]
        self.pos += self.size
        return self.x[idx], self.y[idx]


def bench(name, model, x, y, batch_size, seconds):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = Batches(x, y, batch_size)

    def step():
        bx, by = batches.next()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(bx), by)
        loss.backward()
        opt.step()
        return loss

    # Warm up for a second, then time individual steps for `seconds`.
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        step()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"{name:40s} median {med * 1e6:10.1f} us  mean {statistics.fmean(times) * 1e6:10.1f} us"
          f"  ({len(times)} steps)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, float64, CPU, {torch.get_num_threads()} thread(s)")
    x, y = dataset()
    bench("logistic_10000x100_full_batch", logistic(), x, y, None, args.seconds)
    bench("logistic_10000x100_batch_64", logistic(), x, y, 64, args.seconds)
    bench("mlp_100_64_64_1_relu_10000_full_batch", mlp(), x, y, None, args.seconds)


if __name__ == "__main__":
    main()
