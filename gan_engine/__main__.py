"""``python -m gan_engine``: the ``gan-engine`` command line."""

from gan_engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
