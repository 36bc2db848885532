"""``image_folder``: train on a folder of your own images, inputs made on the fly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from gan_engine.components.degradations.base import build_degradation
from gan_engine.data.base import CropSize, GanDataModule, HoldOut
from gan_engine.data.datasets import DegradationExtra, Extra, MaskExtra, PatchDataset
from gan_engine.data.files import CheckMode, check_values, list_images, raise_problems, read_infos
from gan_engine.data.folders import FileLoader, file_options, holdout, split_folders
from gan_engine.data.io import ReaderName
from gan_engine.data.masks import MASK_GENERATORS, MaskKind
from gan_engine.errors import ConfigError, ConfigIssue
from gan_engine.params import NonNegativeInt, PositiveFloat, PositiveInt
from gan_engine.registry import datamodules

__all__ = ["ImageFolderDataModule"]

Mode = Literal["sr", "inpainting", "images"]


@datamodules.register("image_folder")
class ImageFolderDataModule(GanDataModule):
    """A folder of high-resolution images (or band stacks); inputs are made from them.

    Layout: either ``root/train``, ``root/val`` (and optionally ``root/test``) subfolders,
    or images directly under ``root``, of which ``val_fraction`` is held out (seeded).
    Files: PNG, JPEG, BMP, WebP and TIFF (Pillow), ``.npy``/``.npz`` stacks ``(C, H, W)``,
    GeoTIFF through rasterio (``pip install 'gan_engine[geo]'``). Every file is checked at
    ``setup()`` from its header (band count, size, readability); bad files stop the run
    before training with a message that names them.

    ``mode`` says what a batch holds:

    - ``"sr"``: ``{"hr", "lr"}``; ``"lr"`` is made on the device by the degradation
      pipeline (``degradation``: blur, antialiased downsampling, noise).
    - ``"inpainting"``: ``{"image", "mask"}`` with hole masks of kind ``mask``.
    - ``"images"``: ``{"image"}`` (unconditional synthesis).

    A ``"valid"`` mask ``(N, 1, H, W)`` is added when a no-data value applies.

    Args:
        root: the folder.
        bands: bands per image (after ``band_indices``).
        scale: LR/HR factor (derived from ``Task.scale``).
        mode: ``"sr"``, ``"inpainting"`` or ``"images"``.
        hr_size: side of the random training crops (a multiple of ``scale``).
        val_hr_size: side of the centred validation crops; default: ``hr_size``.
        val_fraction: share of images held out when there is no ``val`` subfolder.
        crops_per_image: random crops drawn per image and epoch.
        augment: random flips and right-angle rotations during training.
        degradation: parameters of the degradation (``resample``, ``blur_sigma``,
            ``anisotropic``, ``blur_prob``, ``noise_std``, ``noise_prob``, ``clamp``).
        mask: hole masks for ``mode="inpainting"``: ``boxes``, ``strokes`` or ``mixed``.
        band_indices: 0-based bands to read from each file; default: all.
        value_scale: divide raw values by this; default: 255 (8-bit), 65535 (16-bit), 1.
        nodata: value of missing pixels (``.nan`` allowed); default: the file's own.
        reader: ``auto``, ``pillow``, ``numpy`` or ``rasterio``.
        array_key: array name inside ``.npz`` files; default: the only one.
        channels_last: NumPy stacks are ``(H, W, C)``.
        check: ``headers`` (read headers only), ``full`` (also decode every file to
            look for NaN), ``auto`` (full when the folder is under 256 MiB).
        cache_mib: keep decoded images in memory, up to this many MiB per process (the
            main one and each data-loader worker); 0 reads every crop from disk.
        batch_size: training batch size.
        val_batch_size: validation batch size; default: ``batch_size``.
        num_workers: data-loader worker processes.
        pin_memory: page-locked host memory; default: on when CUDA is available.
        persistent_workers: keep workers alive between epochs.
        seed: seed of the held-out split and of the validation randomness.
    """

    def __init__(self, root: str, bands: PositiveInt = 3, scale: PositiveInt = 4, mode: Mode = "sr",
                 hr_size: CropSize = 64, val_hr_size: CropSize | None = None, val_fraction: HoldOut = 0.1,
                 crops_per_image: PositiveInt = 1, augment: bool = True, degradation: dict[str, Any] | None = None,
                 mask: MaskKind = "mixed", band_indices: list[NonNegativeInt] | None = None,
                 value_scale: PositiveFloat | None = None, nodata: float | None = None, reader: ReaderName = "auto",
                 array_key: str | None = None, channels_last: bool = False, check: CheckMode = "auto",
                 cache_mib: NonNegativeInt = 512, batch_size: PositiveInt = 8,
                 val_batch_size: PositiveInt | None = None, num_workers: NonNegativeInt = 0,
                 pin_memory: bool | None = None, persistent_workers: bool = True, seed: NonNegativeInt = 0) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, pin_memory, persistent_workers, seed=seed)
        self.root, self.mode, self.scale = Path(root).expanduser(), mode, scale
        self.hr_size, self.val_hr_size = hr_size, val_hr_size or hr_size
        self.val_fraction, self.crops_per_image, self.augment = val_fraction, crops_per_image, augment
        self.mask, self.check, self.seed, self.cache_mib = mask, check, seed, cache_mib
        self._check_args()
        self.options = file_options(bands, band_indices, value_scale, nodata, reader, array_key, channels_last)
        self.key = "hr" if mode == "sr" else "image"
        if mode == "sr":
            self.degradation = build_degradation(scale, degradation)

    def _check_args(self) -> None:
        issues = []
        if self.mode not in ("sr", "inpainting", "images"):
            issues.append(ConfigIssue("Data.mode", f"must be sr, inpainting or images, got {self.mode!r}"))
        step = self.scale if self.mode == "sr" else 1
        for name, size in (("hr_size", self.hr_size), ("val_hr_size", self.val_hr_size)):
            if size < 1 or size % step:
                issues.append(ConfigIssue(f"Data.{name}", f"is {size}; it must be a positive multiple of the "
                                          f"scale ({step}) so the LR image has whole pixels"))
        if self.mask not in MASK_GENERATORS:
            issues.append(ConfigIssue("Data.mask", f"must be one of {sorted(MASK_GENERATORS)}, got {self.mask!r}"))
        if issues:
            raise ConfigError(issues)

    def _splits(self) -> dict[str, list[Path]]:
        folders = split_folders(self.root)
        if "train" not in folders:
            train, val = holdout(list_images(self.root), self.val_fraction, self.seed)
            return {"train": train, "val": val}
        splits = {name: list_images(folder) for name, folder in folders.items()}
        if "val" not in splits:
            splits["train"], splits["val"] = holdout(splits["train"], self.val_fraction, self.seed)
        return splits

    def _extras(self) -> list[Extra]:
        if self.mode == "sr":
            assert self.degradation is not None
            return [DegradationExtra(self.degradation, "hr")]
        return [MaskExtra(self.mask, "image")] if self.mode == "inpainting" else []

    def build(self) -> None:
        """Check every file's header (and values, when asked), then create the data sets."""
        problems: list[str] = []
        datasets: dict[str, PatchDataset] = {}
        for split, files in self._splits().items():
            if not files:
                continue
            infos = read_infos(files, self.options, problems)
            size = self.hr_size if split == "train" else self.val_hr_size
            problems += [f"{i.path}: is {i.height}×{i.width} pixels, smaller than the {size}×{size} "
                         f"{'training' if split == 'train' else split} crop (Data.hr_size / Data.val_hr_size)"
                         for i in infos.values() if min(i.height, i.width) < size]
            check_values(infos, self.options, self.check, problems)
            loader = FileLoader([{self.key: p} for p in infos], {self.key: self.options},
                                {p: i.nodata for p, i in infos.items()}, self.key,
                                cache_bytes=self.cache_mib << 20)
            datasets[split] = PatchDataset(loader, len(loader), {self.key: 1}, size, train=split == "train",
                                           augment=self.augment, extras=self._extras(), seed=self.seed,
                                           repeats=self.crops_per_image, valid_like=self.key)
        raise_problems(problems, f"the image folder {self.root}")
        self.train_set, self.val_set, self.test_set = (datasets.get(s) for s in ("train", "val", "test"))
