"""``python -m gan_engine.predict --checkpoint CKPT INPUT [INPUT ...] --output DIR [flags]``: predict files.

The same as ``gan-engine predict``; run with ``--help`` for every flag.
"""

from __future__ import annotations

from gan_engine.cli import predict_main

__all__ = ["predict_main"]

if __name__ == "__main__":
    raise SystemExit(predict_main())
