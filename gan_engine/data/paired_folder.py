"""``paired_folder``: train on pairs of files, ``LR``/``HR`` or ``A``/``B``, matched by name."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from gan_engine.data.base import CropSize, GanDataModule, HoldOut
from gan_engine.data.datasets import PatchDataset
from gan_engine.data.files import CheckMode, FileOptions, check_values, list_images, raise_problems, read_infos
from gan_engine.data.folders import FileLoader, file_options, holdout, split_folders
from gan_engine.data.io import ImageInfo, ReaderName
from gan_engine.errors import ConfigError, ConfigIssue, DataError
from gan_engine.params import NonNegativeInt, PositiveFloat, PositiveInt
from gan_engine.registry import datamodules

__all__ = ["PairedFolderDataModule"]

Layout = Literal["auto", "lr_hr", "a_b"]
#: layout -> ((input folder, batch key), (target folder, batch key))
_LAYOUTS = {"lr_hr": (("LR", "lr"), ("HR", "hr")), "a_b": (("A", "cond"), ("B", "image"))}


def _pairs(split_dir: Path, layout: str) -> tuple[list[dict[str, Path]], list[str]]:
    """Files of the two subfolders matched by name without suffix, and the unmatched ones."""
    (in_dir, in_key), (out_dir, out_key) = _LAYOUTS[layout]
    inputs = {p.relative_to(split_dir / in_dir).with_suffix(""): p for p in list_images(split_dir / in_dir)}
    targets = {p.relative_to(split_dir / out_dir).with_suffix(""): p for p in list_images(split_dir / out_dir)}
    problems = [f"{p}: has no partner in {split_dir / out_dir} (files are paired by name)"
                for k, p in inputs.items() if k not in targets]
    problems += [f"{p}: has no partner in {split_dir / in_dir} (files are paired by name)"
                 for k, p in targets.items() if k not in inputs]
    records = [{in_key: inputs[k], out_key: targets[k]} for k in sorted(inputs) if k in targets]
    return records, problems


@datamodules.register("paired_folder")
class PairedFolderDataModule(GanDataModule):
    """Pairs of files in ``root/<split>/LR`` and ``root/<split>/HR`` (or ``A`` and ``B``).

    Splits are ``train``, ``val`` and optionally ``test``; without ``val``, a seeded
    ``val_fraction`` of the training pairs is held out. Files pair by name without suffix
    (``LR/x.png`` with ``HR/x.tif``), in nested folders too. Layout ``lr_hr`` gives batches
    ``{"lr", "hr"}`` (super-resolution; each HR image must be exactly ``scale`` times its
    LR partner); layout ``a_b`` gives ``{"cond", "image"}`` (image-to-image; A has
    ``in_bands`` bands, B has ``bands``). Crops are chosen on the input grid so both files
    of a pair cover the same ground; flips and rotations are shared.

    Args:
        root: the folder.
        bands: bands of the target (HR or B) files.
        in_bands: bands of the input (LR or A) files; default: ``bands``.
        scale: target/input size ratio (derived from ``Task.scale``).
        layout: ``auto`` (whichever subfolders exist), ``lr_hr`` or ``a_b``.
        hr_size: side of the random training crops, in target pixels.
        val_hr_size: side of the centred validation crops; default: ``hr_size``.
        val_fraction: share of pairs held out when there is no ``val`` split.
        crops_per_image: random crops per pair and epoch.
        augment: random flips and right-angle rotations during training.
        band_indices: 0-based bands read from target files; default: all.
        in_band_indices: 0-based bands read from input files; default: all.
        value_scale: divide raw values by this; default by dtype (255, 65535, 1).
        nodata: value of missing target pixels (``.nan`` allowed); default: the file's own.
        reader: ``auto``, ``pillow``, ``numpy`` or ``rasterio``.
        array_key: array name inside ``.npz`` files.
        channels_last: NumPy stacks are ``(H, W, C)``.
        check: ``headers``, ``full`` or ``auto`` (see ``image_folder``).
        cache_mib: keep decoded images in memory, up to this many MiB per process (see
            ``image_folder``); 0 reads every crop from disk.
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
        persistent_workers: keep workers alive between epochs.
        seed: seed of the held-out split.
    """

    def __init__(self, root: str, bands: PositiveInt = 3, in_bands: PositiveInt | None = None, scale: PositiveInt = 1,
                 layout: Layout = "auto", hr_size: CropSize = 64, val_hr_size: CropSize | None = None,
                 val_fraction: HoldOut = 0.1, crops_per_image: PositiveInt = 1, augment: bool = True,
                 band_indices: list[NonNegativeInt] | None = None, in_band_indices: list[NonNegativeInt] | None = None,
                 value_scale: PositiveFloat | None = None, nodata: float | None = None, reader: ReaderName = "auto",
                 array_key: str | None = None, channels_last: bool = False, check: CheckMode = "auto",
                 cache_mib: NonNegativeInt = 512, batch_size: PositiveInt = 8,
                 val_batch_size: PositiveInt | None = None, num_workers: NonNegativeInt = 0,
                 pin_memory: bool | None = None, persistent_workers: bool = True, seed: NonNegativeInt = 0) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, pin_memory, persistent_workers, seed=seed)
        self.root, self.scale, self.layout = Path(root).expanduser(), scale, layout
        self.hr_size, self.val_hr_size = hr_size, val_hr_size or hr_size
        self.val_fraction, self.crops_per_image, self.augment = val_fraction, crops_per_image, augment
        self.check, self.seed, self.cache_mib = check, seed, cache_mib
        for name, size in (("hr_size", self.hr_size), ("val_hr_size", self.val_hr_size)):
            if size < 1 or size % scale:
                raise ConfigError([ConfigIssue(f"Data.{name}", f"is {size}; it must be a positive multiple of the "
                                               f"scale ({scale})")])
        out_opts = file_options(bands, band_indices, value_scale, nodata, reader, array_key, channels_last)
        in_opts = file_options(in_bands or bands, in_band_indices, value_scale, None, reader, array_key,
                               channels_last)
        self._opts = (in_opts, out_opts)

    def _layout(self, split_dir: Path) -> str:
        if self.layout != "auto":
            return self.layout
        for name, ((in_dir, _), (out_dir, _)) in _LAYOUTS.items():
            if (split_dir / in_dir).is_dir() and (split_dir / out_dir).is_dir():
                return name
        raise DataError(f"{split_dir}: expected subfolders LR and HR (super-resolution) or A and B "
                        "(image-to-image) with files paired by name")

    def _size_problems(self, rec: dict[str, Path], infos: dict[Path, ImageInfo], crop: int) -> list[str]:
        (src, dst), problems = rec.values(), list[str]()
        if src not in infos or dst not in infos:
            return problems
        a, b = infos[src], infos[dst]
        if (b.height, b.width) != (a.height * self.scale, a.width * self.scale):
            problems.append(f"{dst}: is {b.height}×{b.width} but its input {src.name} is {a.height}×{a.width}; "
                            f"with scale {self.scale} it must be {a.height * self.scale}×{a.width * self.scale}")
        elif min(b.height, b.width) < crop:
            problems.append(f"{dst}: is {b.height}×{b.width} pixels, smaller than the {crop}×{crop} crop")
        return problems

    def _dataset(self, split: str, records: list[dict[str, Path]], problems: list[str]) -> PatchDataset:
        keys = list(records[0])
        opts: dict[str, FileOptions] = dict(zip(keys, self._opts))
        infos = {**read_infos([r[keys[0]] for r in records], opts[keys[0]], problems),
                 **read_infos([r[keys[1]] for r in records], opts[keys[1]], problems)}
        crop = self.hr_size if split == "train" else self.val_hr_size
        for rec in records:
            problems += self._size_problems(rec, infos, crop)
        for key in keys:
            check_values({r[key]: infos[r[key]] for r in records if r[key] in infos}, opts[key], self.check, problems)
        loader = FileLoader(records, opts, {p: i.nodata for p, i in infos.items()}, keys[1],
                            cache_bytes=self.cache_mib << 20)
        return PatchDataset(loader, len(loader), {keys[0]: 1, keys[1]: self.scale}, crop // self.scale,
                            train=split == "train", augment=self.augment, seed=self.seed,
                            repeats=self.crops_per_image, valid_like=keys[1])

    def build(self) -> None:
        """Pair the files, check their headers (and values, when asked), create the data sets."""
        folders = split_folders(self.root)
        if "train" not in folders:
            raise DataError(f"{self.root}: expected a 'train' subfolder (and 'val', optionally 'test'), each "
                            "holding LR and HR (or A and B) folders of files paired by name")
        problems: list[str] = []
        splits = {}
        for split, folder in folders.items():
            records, unmatched = _pairs(folder, self._layout(folder))
            problems += unmatched
            splits[split] = records
        if "val" not in splits:
            splits["train"], splits["val"] = holdout(splits["train"], self.val_fraction, self.seed)
        datasets = {s: self._dataset(s, recs, problems) for s, recs in splits.items() if recs}
        raise_problems(problems, f"the paired folder {self.root}")
        self.train_set, self.val_set, self.test_set = (datasets.get(s) for s in ("train", "val", "test"))
