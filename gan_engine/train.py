"""``python -m gan_engine.train --config PATH [flags] [KEY=VALUE ...]``: train a GAN.

The same as ``gan-engine train``; run with ``--help`` for every flag.
"""

from __future__ import annotations

from gan_engine.cli import train_main

__all__ = ["train_main"]

if __name__ == "__main__":
    raise SystemExit(train_main())
