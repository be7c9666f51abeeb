#!/usr/bin/env python3
"""Writes a generated regression CSV whose target is in the hundreds, for choosing the default model
(docs/defaults.md): a target that no preset trains on unless it is standardised.

    scripts/make_synthetic_regression.py OUT.csv [--rows N] [--seed S]

Eight features x0..x7 on different scales (standard normal, one in the thousands, one uniform in
[0, 1]) and a target of mean about 390 and std about 70:
    y = 300 + 60 sin(x0) + 40 x1 x2 + 25 x3^2 + 0.02 x4 + 50 x5 + 10 noise
(x6 and x7 are noise features). Plain Python (random.Random), so the file is the same everywhere
for a seed; the data itself is never committed.
"""
import argparse
import math
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as f:
        f.write(",".join([f"x{j}" for j in range(8)] + ["y"]) + "\n")
        for _ in range(args.rows):
            x = [rng.gauss(0, 1) for _ in range(8)]
            x[4] = rng.gauss(2000, 800)  # a feature in the thousands
            x[5] = rng.random()
            y = (300 + 60 * math.sin(x[0]) + 40 * x[1] * x[2] + 25 * x[3] ** 2 + 0.02 * x[4] + 50 * x[5]
                 + 10 * rng.gauss(0, 1))
            f.write(",".join(f"{v:.6g}" for v in x) + f",{y:.6g}\n")


if __name__ == "__main__":
    main()
