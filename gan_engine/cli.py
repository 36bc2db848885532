"""The ``gan-engine`` command line: ``train``, ``validate``, ``export``, ``plugins`` and ``config``.

``python -m gan_engine.train`` and ``python -m gan_engine.validate`` are the first two verbs.
Bad input (an invalid config, a missing file, an unknown flag, a corrupt checkpoint) ends
with a one-paragraph message on stderr and exit status 2, never a traceback; a genuine
crash during training keeps its traceback (exit status 1); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from gan_engine.errors import GanEngineError

__all__ = ["main", "train_main", "validate_main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, with the program's name in front of every error and a hint to ``--help``."""

    def error(self, message: str) -> Any:  # argparse exits with status 2 itself
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}. Run '{self.prog} --help' for the options.\n")


# -- train --------------------------------------------------------------------------------


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="PATH", help="YAML configuration file")
    p.add_argument("--resume", action="store_true",
                   help="resume the latest run of this config (Project.name) under Project.output_dir")
    p.add_argument("--checkpoint", metavar="PATH", help="resume exactly from this checkpoint")
    p.add_argument("--devices", metavar="N|cpu", help="number of devices, a list such as 0,1, or 'cpu'")
    p.add_argument("--accelerator", metavar="NAME", help="Lightning accelerator: gpu, cpu, mps, auto")
    p.add_argument("--strategy", metavar="NAME", help="Lightning strategy: ddp, fsdp, deepspeed, ...")
    p.add_argument("--precision", choices=("32", "16", "bf16"), help="numerical precision (Training.precision)")
    p.add_argument("--max-steps", type=int, metavar="N", help="training iterations (Training.max_steps)")
    p.add_argument("--limit-train-batches", type=float, metavar="F",
                   help="fraction (≤ 1.0) or number of training batches per epoch")
    p.add_argument("--fast-dev-run", action="store_true",
                   help="one training and one validation batch, nothing saved: a quick check of a config")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. Training.max_steps=200")


def train_overrides(args: argparse.Namespace) -> list[str]:
    """The explicit ``KEY=VALUE`` overrides, then those the flags stand for (flags win)."""
    for item in args.overrides:
        if "=" not in item:
            raise GanEngineError(f"expected KEY=VALUE overrides after the flags, got {item!r} "
                                 "(e.g. Training.max_steps=200)")
    out: list[str] = list(args.overrides)
    if args.devices is not None:
        if args.devices.strip().lower() == "cpu":
            out += ["Trainer.accelerator=cpu", "Trainer.devices=1"]
        else:
            out.append(f"Trainer.devices={_devices(args.devices)}")
    flags = {"Trainer.accelerator": args.accelerator, "Trainer.strategy": args.strategy,
             "Training.precision": args.precision, "Training.max_steps": args.max_steps,
             "Trainer.limit_train_batches": args.limit_train_batches}
    out += [f"{key}={value}" for key, value in flags.items() if value is not None]
    if args.fast_dev_run:
        out.append("Trainer.fast_dev_run=true")
    return out


def _devices(text: str) -> str:
    value = text.strip()
    if value.isdigit() or value in ("auto", "-1"):
        return value
    parts = value.strip("[]").split(",")
    if all(p.strip().isdigit() for p in parts):
        return "[" + ",".join(p.strip() for p in parts) + "]"
    raise GanEngineError(f"--devices expects a number, a list such as 0,1, 'auto' or 'cpu'; got {text!r}")


def _train(args: argparse.Namespace) -> int:
    import gan_engine as ge

    result = ge.fit(args.config, overrides=train_overrides(args), ckpt_path=args.checkpoint, resume=args.resume)
    print(f"run directory: {result.run_dir}")
    for line in summary_lines(result.metrics):
        print(line)
    if result.best_checkpoint is not None:
        print(f"best checkpoint: {result.best_checkpoint}")
    return 0


def summary_lines(metrics: dict[str, float]) -> list[str]:
    """Human-readable lines for the validation metrics, each against its bicubic baseline when logged."""
    lines = []
    for name, unit in (("psnr", " dB"), ("ssim", "")):
        value, base = metrics.get(f"val/{name}"), metrics.get(f"val/{name}_bicubic")
        if value is None:
            continue
        line = f"val {name.upper()}: {value:.3f}{unit}"
        if base is not None:
            line += f" (bicubic {base:.3f}{unit}, {value - base:+.3f}{unit})"
        lines.append(line)
    if not lines:
        lines = [f"{k}: {v:.4g}" for k, v in sorted(metrics.items()) if k.startswith("val")]
    return lines


# -- validate -----------------------------------------------------------------------------


def _add_validate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="PATH", help="YAML configuration file (its Data section)")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint to evaluate")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


def _validate(args: argparse.Namespace) -> int:
    import gan_engine as ge

    config = ge.load_config(args.config, args.overrides)
    metrics = ge.validate(config, args.checkpoint)
    width = max((len(k) for k in metrics), default=0)
    for key, value in sorted(metrics.items()):
        print(f"{key:<{width}}  {value:.6g}")
    for line in summary_lines(metrics):
        print(line)
    return 0


# -- predict ------------------------------------------------------------------------------


def _add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint (or safetensors export)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the outputs (same file names)")
    p.add_argument("--tile", type=int, default=512, metavar="N", help="tile side in input pixels (default 512)")
    p.add_argument("--overlap", type=int, default=None, metavar="N",
                   help="input pixels shared by neighbouring tiles (default: from the receptive field)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="tiles per forward pass (default 8)")
    p.add_argument("--device", default=None, metavar="D", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--precision", default=None, choices=["32", "16", "bf16"], help="numerical precision")


def _predict(args: argparse.Namespace) -> int:
    import gan_engine as ge
    from gan_engine.predict_files import predict_files

    if args.tile < 1 or args.batch_size < 1 or (args.overlap is not None and args.overlap < 0):
        raise GanEngineError("--tile and --batch-size must be ≥ 1 and --overlap ≥ 0")
    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        raise GanEngineError(f"no such file or folder: {', '.join(missing)}")
    predictor = ge.load_predictor(args.checkpoint, device=args.device, precision=args.precision)
    outputs = predict_files(predictor, args.inputs, args.output, tile=args.tile, overlap=args.overlap,
                            batch_size=args.batch_size, progress=sys.stderr.isatty())
    for path in outputs:
        print(path)
    return 0


# -- export -------------------------------------------------------------------------------


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    from gan_engine.export import FORMATS

    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint (.ckpt) or safetensors export")
    p.add_argument("--format", required=True, choices=FORMATS, help="file format to write")
    p.add_argument("--output", required=True, metavar="PATH", help="file to write (its folder is created)")
    p.add_argument("--no-ema", action="store_true", help="export the trained weights, not their moving average")
    p.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset version (default 17)")


def _export(args: argparse.Namespace) -> int:
    import gan_engine as ge

    path = ge.export(args.checkpoint, args.output, args.format, ema=not args.no_ema, opset=args.opset)
    print(f"wrote {path} ({args.format}, {path.stat().st_size} bytes)")
    return 0


# -- plugins ------------------------------------------------------------------------------


def _add_plugins_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", help="only this registry (generators, discriminators, losses, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _plugins(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from gan_engine.registry import all_registries

    registries = all_registries()
    if args.kind is not None and args.kind not in registries:
        raise GanEngineError(f"--kind must be one of {', '.join(registries)}; got {args.kind!r}")
    kinds = [args.kind] if args.kind else list(registries)
    infos = {kind: [registries[kind].describe(name) for name in registries[kind].names()] for kind in kinds}
    if args.json:
        print(json.dumps({k: [asdict(i) for i in v] for k, v in infos.items()}, indent=2))
        return 0
    for kind, items in infos.items():
        print(f"{kind} ({len(items)})")
        width = max((len(i.name) for i in items), default=0)
        for info in items:
            about = f"BROKEN: {info.error}" if info.error else info.summary
            print(f"  {info.name:<{width}}  [{info.origin}]  {about}".rstrip())
    return 0


# -- runs ---------------------------------------------------------------------------------


def _add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.usage = ("%(prog)s [OUTPUT_DIR] [--json]\n       %(prog)s show RUN_DIR [--json]\n"
               "       %(prog)s plot RUN_DIR [RUN_DIR ...] [--output PNG]")
    p.add_argument("target", nargs="*", metavar="OUTPUT_DIR | show RUN_DIR | plot RUN_DIR ...",
                   help="the folder of runs to list (default: runs); 'show' and one run's directory; 'plot' and "
                        "the directories of the runs to overlay")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--output", default="curves.png", help="with plot: the PNG to write (default curves.png)")


def _runs(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from gan_engine.run.catalog import list_runs, open_run

    if args.target[:1] == ["plot"]:
        if len(args.target) < 2:
            raise GanEngineError("usage: gan-engine runs plot RUN_DIR [RUN_DIR ...] [--output PNG]")
        from gan_engine.run.plots import plot_curves, save_figure

        written = save_figure(plot_curves([open_run(d) for d in args.target[1:]]), args.output)
        print(f"wrote {written}")
        return 0
    if args.target[:1] == ["show"]:
        if len(args.target) != 2:
            raise GanEngineError("usage: gan-engine runs show RUN_DIR")
        view = open_run(args.target[1])
        if args.json:
            print(json.dumps({"info": asdict(view.info), "record": view.record, "history": view.history,
                              "config_differences": view.config_differences()}, indent=2, default=str))
        else:
            print(_describe_run(view))
        return 0
    if len(args.target) > 1:
        raise GanEngineError("gan-engine runs takes one OUTPUT_DIR (or: gan-engine runs show RUN_DIR)")
    infos = list_runs(args.target[0] if args.target else "runs")
    if args.json:
        print(json.dumps([asdict(i) for i in infos], indent=2, default=str))
        return 0
    rows = [("RUN", "PROJECT", "STATUS", "ITERATION", "STARTED", "DURATION", "BEST")]
    for i in infos:
        best = ", ".join(f"{k} {v:.4g}" for k, v in i.best.items()) or "-"
        rows.append((i.name, i.project or "-", i.status, f"{_or_dash(i.iteration)}/{_or_dash(i.max_steps)}",
                     _when(i.started or i.created), _duration_text(i.duration_s), best))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if not infos:
        print(f"(no runs under {args.target[0] if args.target else 'runs'})")
    return 0


def _describe_run(view: Any) -> str:
    i = view.info
    lines = [f"run        {i.name}  ({i.run_dir})", f"project    {i.project}", f"status     {i.status}",
             f"iteration  {_or_dash(i.iteration)} of {_or_dash(i.max_steps)}",
             f"started    {i.created}   latest session {i.started}   ended {i.ended or '-'}",
             f"duration   {_duration_text(i.duration_s)}"]
    if view.record.get("error"):
        lines.append(f"error      {view.record['error']}")
    lines.append("sessions")
    for s in view.record.get("sessions") or []:
        resumed = f"  resumed from {s['resumed_from']}" if s.get("resumed_from") else ""
        lines.append(f"  {s.get('started')}  {s.get('status') or 'running'}{resumed}")
    if i.best:
        lines.append("best       " + ", ".join(f"{k} = {v:.6g}" for k, v in i.best.items()))
    if i.last_metrics:
        lines.append("last metrics")
        lines += [f"  {k} = {v:.6g}" for k, v in sorted(i.last_metrics.items())]
    differences = view.config_differences()
    lines.append("configuration, where it differs from the defaults" if differences else
                 "configuration: the defaults")
    lines += [f"  {k}: {json.dumps(v, default=str)}  (default {json.dumps(d, default=str)})"
              for k, (d, v) in sorted(differences.items())]
    if view.history:
        keys = [k for k in view.history[-1] if k.startswith("val")]
        lines.append("validations")
        lines.append("  " + "  ".join(["iteration", *keys]))
        for r in view.history:
            values = [f"{r[k]:.4g}" if isinstance(r.get(k), (int, float)) else "-" for k in keys]
            lines.append("  " + "  ".join([str(r.get("iteration", "-")).ljust(9), *values]))
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    """An ISO time of a run record as ``2026-12-03 19:51:09Z`` (seconds are enough for a table)."""
    return "-" if not stamp else stamp[:19].replace("T", " ") + ("Z" if stamp.endswith("+00:00") else "")


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _duration_text(seconds: float | None) -> str:
    from gan_engine.run.catalog import format_duration

    return "-" if seconds is None else format_duration(seconds)


def _add_watch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's directory (it may be about to start)")
    p.add_argument("--json", action="store_true", help="one JSON event per line (progress, validation, "
                   "checkpoint, status)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks at the run's files")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the run to appear")


def _watch(args: argparse.Namespace) -> int:
    from gan_engine.run.watch import describe, follow

    status = None
    for event in follow(args.run_dir, interval=args.interval, wait=args.wait):
        print(json.dumps(event, default=str) if args.json else describe(event), flush=True)
        if event["event"] == "status":
            status = event["status"]
    return 0 if status == "completed" else 1


# -- config -------------------------------------------------------------------------------


def _add_config_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="{check,schema,show}", parser_class=_Parser)
    sub.required = True
    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("path", metavar="PATH")
    check.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    sub.add_parser("schema", help="print the JSON Schema of the configuration")
    show = sub.add_parser("show", help="print the resolved configuration, defaults included")
    show.add_argument("path", metavar="PATH")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE")


def _config(args: argparse.Namespace) -> int:
    import gan_engine as ge

    if args.action == "schema":
        print(json.dumps(ge.config_schema(), indent=2))
        return 0
    cfg = ge.load_config(args.path, args.overrides)
    if args.action == "show":
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    print(f"{args.path}: OK — task {cfg.Task.name}, data {cfg.Data.name}, generator {cfg.Generator.name}, "
          f"discriminator {cfg.Discriminator.name}, {cfg.Training.max_steps} iterations")
    return 0


# -- data -------------------------------------------------------------------------------


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="{preview}", parser_class=_Parser)
    sub.required = True
    show = sub.add_parser("preview", help="write a grid of training samples (HR | degraded LR | bicubic LR for "
                                          "super-resolution) as the generator sees them")
    show.add_argument("path", metavar="CONFIG")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    show.add_argument("--output", required=True, metavar="DIR", help="folder of preview-<split>.png")
    show.add_argument("--split", choices=("train", "val"), default="train")
    show.add_argument("--rows", type=int, default=8, help="samples shown (default 8)")
    show.add_argument("--no-stretch", action="store_true", help="show values in [0, 1] as they are (8-bit photos) "
                      "instead of the per-band stretch of Logging.stretch_percentiles")


def _data(args: argparse.Namespace) -> int:
    from gan_engine.data.preview import preview

    path = preview(args.path, args.output, split=args.split, rows=args.rows, overrides=args.overrides,
                   stretch=not args.no_stretch)
    print(f"wrote {path} ({path.with_suffix('.txt').read_text(encoding='utf-8').strip()})")
    return 0


# -- entry points -------------------------------------------------------------------------

_VERBS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "train": ("train a GAN from a YAML config", _add_train_arguments, _train),
    "validate": ("evaluate a checkpoint on the validation data", _add_validate_arguments, _validate),
    "predict": ("predict image files or folders with a trained model", _add_predict_arguments, _predict),
    "export": ("write a checkpoint's generator as ONNX, TorchScript or safetensors", _add_export_arguments, _export),
    "plugins": ("list every registered component by kind and origin", _add_plugins_arguments, _plugins),
    "runs": ("list the runs of a folder, or show one run in full", _add_runs_arguments, _runs),
    "watch": ("follow a run until it ends (exit 0 if it completed)", _add_watch_arguments, _watch),
    "config": ("check, show or describe configurations", _add_config_arguments, _config),
    "data": ("preview the data a config trains on (degradations included)", _add_data_arguments, _data),
}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-engine", description="Train GANs on PyTorch Lightning.")
    sub = parser.add_subparsers(dest="verb", metavar="{" + ",".join(_VERBS) + "}", parser_class=_Parser)
    sub.required = True
    for verb, (help_text, add_arguments, _) in _VERBS.items():
        add_arguments(sub.add_parser(verb, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gan-engine`` command line; returns the exit status.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.
    """
    args = _parser().parse_args(argv)
    return _run(f"gan-engine {args.verb}", _VERBS[args.verb][2], args)


def _verb_main(verb: str, argv: Sequence[str] | None) -> int:
    _, add_arguments, handler = _VERBS[verb]
    parser = _Parser(prog=f"python -m gan_engine.{verb}", description=_VERBS[verb][0])
    add_arguments(parser)
    return _run(parser.prog, handler, parser.parse_args(argv))


def train_main(argv: Sequence[str] | None = None) -> int:
    """``python -m gan_engine.train``: the ``train`` verb on its own."""
    return _verb_main("train", argv)


def validate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m gan_engine.validate``: the ``validate`` verb on its own."""
    return _verb_main("validate", argv)


def predict_main(argv: Sequence[str] | None = None) -> int:
    """``python -m gan_engine.predict``: the ``predict`` verb on its own."""
    return _verb_main("predict", argv)


def _run(prog: str, handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except KeyboardInterrupt as exc:
        print(f"{prog}: {exc or 'interrupted'}; the run directory keeps a last.ckpt: continue with --resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not _is_bad_input(exc):
            raise
        print(f"{prog}: error: {_one_paragraph(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _is_bad_input(exc: BaseException) -> bool:
    """Errors caused by what the user gave (config, files, flags), as opposed to bugs or crashes."""
    if isinstance(exc, (GanEngineError, FileNotFoundError, IsADirectoryError, PermissionError)):
        return True
    try:
        from lightning.fabric.utilities.exceptions import MisconfigurationException
    except ImportError:  # pragma: no cover - lightning is a dependency
        return False
    return isinstance(exc, MisconfigurationException)


def _one_paragraph(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, GanEngineError) else f"{type(exc).__name__}: {text}"


if __name__ == "__main__":
    raise SystemExit(main())
