"""The typed schema of a gan_engine configuration file.

Each section of the YAML file is a dataclass; every field has a default and a ``doc``
entry in its metadata, from which the configuration reference and the JSON Schema are
generated. Component sections (``Generator``, ``Discriminator``, ``Data``, ...) hold a
registry ``name`` and the component's own keyword arguments beside it; those are checked
against the component's constructor signature, which is the component's schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AdversarialLossSpec",
    "CallbacksConfig",
    "CheckpointConfig",
    "ComponentSpec",
    "Config",
    "DAugmentConfig",
    "EMAConfig",
    "EarlyStoppingConfig",
    "GanHealthConfig",
    "GeneratorOptimizerConfig",
    "GradientNormConfig",
    "LoggingConfig",
    "LossesConfig",
    "NormalizationSpec",
    "OptimizerConfig",
    "OptimizersConfig",
    "PeriodicConfig",
    "ProjectConfig",
    "RampConfig",
    "SchedulerConfig",
    "SchedulersConfig",
    "StabilityConfig",
    "TrainingConfig",
    "WeightedLossSpec",
]


def _f(default: Any, doc: str, **bounds: Any) -> Any:
    """A dataclass field with a documented default and optional numeric bounds."""
    meta = {"doc": doc, **bounds}
    if isinstance(default, (list, dict, set)) or hasattr(default, "__dataclass_fields__"):
        return field(default_factory=lambda: _copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


@dataclass
class ComponentSpec:
    """A registry component: ``name`` plus its keyword arguments (``params``).

    In YAML the parameters sit beside the name: ``{name: srresnet, n_blocks: 8}``.
    Attribute access falls back to the parameters, so ``cfg.Generator.n_blocks`` works.
    """

    name: str = _f("", "Registry name of the component.")
    params: dict[str, Any] = _f({}, "Keyword arguments passed to the component's constructor.")

    def __getattr__(self, key: str) -> Any:
        params = self.__dict__.get("params", {})
        if key in params:
            return params[key]
        raise AttributeError(f"{type(self).__name__} {self.__dict__.get('name')!r} has no key {key!r}")

    def kwargs(self) -> dict[str, Any]:
        """The constructor keywords, as a fresh dict."""
        return dict(self.params)


@dataclass
class WeightedLossSpec(ComponentSpec):
    """A content-loss term: a ``losses`` registry entry and its weight in the sum."""

    weight: float = _f(1.0, "Weight of this term in the weighted sum of content losses.", ge=0.0)


@dataclass
class RampConfig:
    """How the adversarial weight grows from 0 to its full value after pretraining."""

    steps: int = _f(0, "Iterations the ramp takes; 0 applies the full weight at once.", ge=0)
    schedule: Literal["linear", "cosine", "sigmoid", "none"] = _f(
        "cosine", "Shape of the ramp; 'none' applies the full weight at once.")


@dataclass
class AdversarialLossSpec(ComponentSpec):
    """The adversarial objective: a ``losses`` entry with ``kind = 'adversarial'``."""

    weight: float = _f(1.0e-3, "Weight of the generator's adversarial term once the ramp is done.", ge=0.0)
    ramp: RampConfig = _f(RampConfig(), "Ramp of the adversarial weight, starting when pretraining ends.")


@dataclass
class NormalizationSpec(ComponentSpec):
    """The normaliser used for every branch, with optional per-branch overrides."""

    lr: ComponentSpec | None = _f(None, "Normaliser of the generator input (LR) branch; default: the main one.",
                                  registry="normalizers")
    hr: ComponentSpec | None = _f(None, "Normaliser of the target (HR) branch; default: the main one.",
                                  registry="normalizers")
    cond: ComponentSpec | None = _f(None, "Normaliser of conditioning tensors; default: identity.",
                                    registry="normalizers")


@dataclass
class ProjectConfig:
    name: str = _f("quickstart", "Name of the experiment; run directories start with it.")
    output_dir: str = _f("runs", "Folder under which every run gets its own directory.")
    seed: int = _f(42, "Seed of every random generator (torch, numpy, python, data).", ge=0)
    run_name: str | None = _f(None, "Directory name of this run; default '<name>-<date>-<time>'.")
    exclusive: bool = _f(False, "One live run of this project under output_dir at a time: a second start is "
                         "refused, naming the running run and its process.")


@dataclass
class EMAConfig:
    enabled: bool = _f(True, "Keep an exponential moving average of the generator's weights.")
    decay: float = _f(0.999, "Decay of the average once the warm-up is over.", ge=0.0, le=1.0)
    update_after_step: int = _f(0, "Iteration from which the average is updated.", ge=0)
    warmup: Literal["none", "inverse", "power", "half_life"] = _f(
        "inverse",
        "Decay warm-up: 'inverse' min(decay, (1+n)/(10+n)); 'power' 1-(1+n)^-power; "
        "'half_life' 0.5**(batch/half_life_images); 'none' the fixed decay.")
    power: float = _f(0.75, "Exponent of the 'power' warm-up.", gt=0.0)
    half_life_images: float = _f(10000.0, "Half-life of the 'half_life' average, in training images.", gt=0.0)


@dataclass
class StabilityConfig:
    gradient_clip_val: float = _f(0.0, "Clip the generator's (and, by default, discriminator's) gradients; 0 disables.", ge=0.0)
    gradient_clip_algorithm: Literal["norm", "value"] = _f("norm", "Clip the global norm or each value.")
    d_gradient_clip_val: float | None = _f(None, "Clip value for the discriminator; default: gradient_clip_val.", ge=0.0)
    d_reg_every: int = _f(16, "Apply the R1 penalty every n discriminator steps (lazy regularisation); 0 disables.", ge=0)
    r1_gamma: float = _f(0.0, "Weight gamma of the R1 penalty on real samples; 0 disables it.", ge=0.0)
    gp_weight: float = _f(0.0, "Weight of the WGAN-GP gradient penalty; 0 disables it.", ge=0.0)
    nonfinite: Literal["skip", "raise"] = _f(
        "skip", "On a non-finite loss: 'skip' the update (and stop after max_nonfinite), or 'raise' at once.")
    max_nonfinite: int = _f(3, "Consecutive non-finite iterations tolerated before stopping.", ge=1)


@dataclass
class CompileConfig:
    enabled: bool = _f(False, "torch.compile the generator and discriminator for training (validation, EMA and "
                       "checkpoints use the eager networks).")
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = _f(
        "default", "torch.compile mode.")
    backend: str = _f("inductor", "torch.compile backend ('inductor'; 'aot_eager' to check a model compiles).")
    dynamic: bool | None = _f(None, "Dynamic shapes: null lets torch decide, false specialises on every size.")
    fullgraph: bool = _f(False, "Fail on a graph break instead of falling back to Python for that part.")


@dataclass
class FSDPConfig:
    sharding: Literal["full", "grad_op"] = _f(
        "full", "What stays sharded: 'full' reshards parameters after each forward (least memory, FSDP1's "
        "FULL_SHARD); 'grad_op' keeps them gathered from forward to backward (one all-gather fewer per phase, "
        "SHARD_GRAD_OP).")
    auto_wrap: Literal["network", "blocks"] = _f(
        "network", "Sharding units under strategy 'fsdp': each network as one unit, or also each block of at least "
        "min_num_params parameters (deepest first).")
    min_num_params: int = _f(1_000_000, "Parameters of a block that becomes its own unit with auto_wrap 'blocks'.",
                             ge=1)
    cpu_offload: bool = _f(False, "Keep sharded parameters, gradients and optimizer states in CPU memory.")


@dataclass
class DAugmentConfig:
    policy: list[Literal["translation", "cutout", "color", "flip", "rotate90"]] = _f(
        [], "Differentiable augmentations of every discriminator input, real and generated alike (DiffAugment): "
            "any of translation, cutout, color, flip, rotate90; [] turns augmentation off.")
    p: float | None = _f(None, "Probability that each augmentation is applied to a sample; default 1, or 0 as the "
                               "start value when adaptive.", ge=0.0, le=1.0)
    adaptive: bool = _f(False, "Adaptive probability (ADA): steer p so that the mean sign of D's outputs on real "
                               "images approaches target; p is logged as train/augment_p and kept in checkpoints.")
    target: float = _f(0.6, "ADA target of the mean sign of D(real): above it D overfits and p rises.", ge=0.0, le=1.0)
    interval: int = _f(4, "ADA: iterations between two adjustments of p.", ge=1)
    speed_images: int = _f(500_000, "ADA: training images over which p can move from 0 to 1 (lower reacts faster).",
                           ge=1)
    translation: float = _f(0.125, "Largest translation, as a fraction of the image side.", ge=0.0, le=0.5)
    cutout: float = _f(0.5, "Side of the cut-out square, as a fraction of the image side.", gt=0.0, le=1.0)


@dataclass
class TrainingConfig:
    max_steps: int = _f(1800, "Training iterations (batches that update the generator) before stopping.", ge=1)
    pretrain_steps: int = _f(1500, "Generator-only iterations before adversarial training starts.", ge=0)
    d_update_interval: int = _f(1, "Update the discriminator every n adversarial iterations.", ge=1)
    g_update_interval: int = _f(1, "Update the generator every n adversarial iterations (critic-style training).", ge=1)
    precision: Literal["32", "16", "bf16"] = _f("32", "Numerical precision: 32, or 16 / bf16 mixed precision.")
    accumulate_grad_batches: int = _f(1, "Accumulate gradients over k batches per update.", ge=1)
    channels_last: bool = _f(False, "Keep networks and image batches in channels-last memory format (faster "
                             "convolutions on recent GPUs, especially with mixed precision).")
    compile: CompileConfig = _f(CompileConfig(), "torch.compile of the networks for the training phases.")
    fsdp: FSDPConfig = _f(FSDPConfig(), "Sharding under strategy 'fsdp' (FSDP2; each network sharded apart).")
    fast_matmul: bool = _f(False, "On CUDA, let float32 matmuls and convolutions use TF32 (float32 matmul "
                           "precision 'high'); restored when the fit ends.")
    manual_optimization: bool = _f(True, "Must be true: GANs in Lightning 2 use manual optimisation.")
    label_smoothing: float = _f(0.0, "One-sided label smoothing: real targets become 1 - value.", ge=0.0, lt=0.5)
    d_augment: DAugmentConfig = _f(DAugmentConfig(), "Augmentation of the discriminator's inputs (DiffAugment / "
                                   "ADA), for small data sets where the discriminator overfits.")
    Stability: StabilityConfig = _f(StabilityConfig(), "Clipping, penalties and non-finite loss policy.")
    EMA: EMAConfig = _f(EMAConfig(), "Exponential moving average of the generator.")


@dataclass
class LossesConfig:
    content: list[WeightedLossSpec] = _f(
        [WeightedLossSpec(name="l1", weight=1.0)], "Weighted sum of content losses between output and target.",
        registry="losses")
    adversarial: AdversarialLossSpec = _f(AdversarialLossSpec(name="bce"), "Adversarial objective and its weight.",
                                           registry="losses")
    feature_matching: float = _f(0.0, "Weight of discriminator feature matching (needs a discriminator that returns features).", ge=0.0)


@dataclass
class OptimizerConfig:
    name: Literal["adam", "adamw"] = _f("adam", "Optimizer.")
    lr: float = _f(2.0e-4, "Learning rate.", gt=0.0)
    betas: list[float] = _f([0.9, 0.99], "Adam betas (beta1, beta2).")
    eps: float = _f(1.0e-8, "Adam epsilon.", gt=0.0)
    weight_decay: float = _f(0.0, "Weight decay (decoupled for adamw).", ge=0.0)
    no_decay_bias_and_norm: bool = _f(True, "Exempt biases and normalisation weights from weight decay.")


@dataclass
class GeneratorOptimizerConfig(OptimizerConfig):
    lr: float = _f(1.0e-3, "Learning rate.", gt=0.0)


@dataclass
class OptimizersConfig:
    generator: GeneratorOptimizerConfig = _f(GeneratorOptimizerConfig(), "Optimizer of the generator.")
    discriminator: OptimizerConfig = _f(OptimizerConfig(), "Optimizer of the discriminator.")


@dataclass
class SchedulerConfig:
    name: Literal["constant", "cosine", "onecycle", "plateau"] = _f("constant", "Learning-rate schedule.")
    warmup_steps: int = _f(0, "Iterations of learning-rate warm-up.", ge=0)
    warmup: Literal["linear", "cosine"] = _f("linear", "Shape of the warm-up.")
    warmup_floor: float = _f(0.05, "Smallest warm-up factor, so no learning rate is stuck near 0.", gt=0.0, le=1.0)
    min_lr_ratio: float = _f(0.0, "cosine: final learning rate as a fraction of the initial one.", ge=0.0, le=1.0)
    pct_start: float = _f(0.3, "onecycle: fraction of the iterations spent increasing the rate.", gt=0.0, lt=1.0)
    monitor: str = _f("val/psnr", "plateau: validation metric watched.")
    mode: Literal["min", "max"] = _f("max", "plateau: whether the metric should go down or up.")
    patience: int = _f(5, "plateau: validations without improvement before a cut.", ge=0)
    factor: float = _f(0.5, "plateau: multiplier of the learning rate at a cut.", gt=0.0, lt=1.0)


@dataclass
class SchedulersConfig:
    generator: SchedulerConfig = _f(SchedulerConfig(), "Schedule of the generator's learning rate.")
    discriminator: SchedulerConfig = _f(SchedulerConfig(), "Schedule of the discriminator's learning rate.")


@dataclass
class LoggingConfig:
    logger: Literal["csv", "tensorboard", "wandb"] = _f("csv", "Experiment logger.")
    log_every_n_steps: int = _f(50, "Log scalars every n iterations.", ge=1)
    log_images_every_n_steps: int = _f(500, "Log an image panel every n iterations; 0 only at validation.", ge=0)
    num_images: int = _f(4, "Samples per image panel.", ge=1)
    system_stats: bool = _f(False, "Log device utilisation and memory at the logging cadence (system/...): "
                            "Lightning's DeviceStatsMonitor on GPUs; process CPU and resident memory otherwise.")
    plot_curves: bool = _f(True, "After each validation, draw plots/curves.png (losses, adversarial weight, "
                           "learning rates, validation metrics), in a background thread.")
    denormalize_images: bool = _f(True, "Undo the normaliser before drawing panels.")
    rgb_bands: list[int] | None = _f(None, "Band indices drawn as red, green, blue; default: the first three (or one grey band).")
    stretch_percentiles: list[float] = _f([2.0, 98.0], "Per-band percentile stretch of image panels.")
    log_gradients: bool = _f(False, "Log gradient histograms at the logging cadence.")
    log_parameters: bool = _f(False, "Log weight histograms at the logging cadence.")
    wandb_project: str | None = _f(None, "Weights & Biases project; default: Project.name.")


@dataclass
class CheckpointConfig:
    monitor: str | None = _f("val/psnr", "Metric ranking the best checkpoints; null keeps only the last one.")
    mode: Literal["min", "max"] = _f("max", "Whether a lower or higher metric is better.")
    save_top_k: int = _f(1, "Best checkpoints kept.", ge=0)
    every_n_minutes: float = _f(0.0, "Also refresh last.ckpt every n minutes of training, at an iteration boundary "
                                "(for preemptible jobs); 0 disables.", ge=0.0)


@dataclass
class PeriodicConfig:
    every_n_steps: int = _f(0, "Keep a snapshot every n iterations; 0 disables.", ge=0)


@dataclass
class EarlyStoppingConfig:
    monitor: str = _f("val/psnr", "Metric watched.")
    mode: Literal["min", "max"] = _f("max", "Whether a lower or higher metric is better.")
    patience: int = _f(20, "Validations without improvement before stopping.", ge=0)
    min_delta: float = _f(0.0, "Smallest change counted as an improvement.", ge=0.0)


@dataclass
class GradientNormConfig:
    enabled: bool = _f(True, "Log each network's gradient norm before and after clipping.")
    warn_above: float = _f(1000.0, "Warn once when a norm exceeds this value.", gt=0.0)


@dataclass
class GanHealthConfig:
    enabled: bool = _f(True, "Log mean D(real) and D(fake) and watch for discriminator collapse.")
    collapse_patience: int = _f(200, "Warn after this many consecutive iterations the discriminator wins outright.", ge=1)
    collapse_margin: float = _f(0.95, "D wins outright when sigmoid(D(real)) > margin and sigmoid(D(fake)) < 1 - margin.", gt=0.5, lt=1.0)


@dataclass
class CallbacksConfig:
    checkpoint: CheckpointConfig = _f(CheckpointConfig(), "Top-k checkpoints by a validation metric.")
    periodic: PeriodicConfig = _f(PeriodicConfig(), "Periodic snapshots.")
    lr_monitor: bool = _f(True, "Log learning rates.")
    early_stopping: EarlyStoppingConfig | None = _f(None, "Stop when a metric stops improving; null disables.")
    gradient_norm: GradientNormConfig = _f(GradientNormConfig(), "Gradient-norm logging.")
    health: GanHealthConfig = _f(GanHealthConfig(), "GAN health monitoring.")
    extra_validation: list[ComponentSpec] = _f([], "`callbacks` registry entries run on validation outputs.",
                                              registry="callbacks")


def _spec(name: str, **params: Any) -> ComponentSpec:
    return ComponentSpec(name=name, params=params)


@dataclass
class Config:
    """A whole gan_engine configuration. ``load_config({})`` gives the quickstart."""

    Project: ProjectConfig = _f(ProjectConfig(), "Name, output folder and seed of the run.")
    Task: ComponentSpec = _f(_spec("super_resolution", scale=4), "The job: a `tasks` registry entry and its parameters.",
                             registry="tasks")
    Data: ComponentSpec = _f(_spec("synthetic_sr"), "The data: a `datamodules` registry entry and its parameters.",
                             registry="datamodules")
    Normalization: NormalizationSpec = _f(NormalizationSpec(name="identity"), "Normalisers of the data branches.",
                                          registry="normalizers")
    Generator: ComponentSpec = _f(_spec("srresnet", n_channels=32, n_blocks=8, image_skip=True), "The generator: a `generators` registry entry.",
                                  registry="generators")
    Discriminator: ComponentSpec = _f(_spec("srgan", base_channels=32), "The discriminator: a `discriminators` registry entry.",
                                      registry="discriminators")
    Losses: LossesConfig = _f(LossesConfig(), "Content and adversarial losses.")
    Training: TrainingConfig = _f(TrainingConfig(), "Iterations, phases, precision and stability.")
    Optimizers: OptimizersConfig = _f(OptimizersConfig(), "Optimizers of both networks.")
    Schedulers: SchedulersConfig = _f(SchedulersConfig(), "Learning-rate schedules of both networks.")
    Logging: LoggingConfig = _f(LoggingConfig(), "Logger, cadences and image panels.")
    Callbacks: CallbacksConfig = _f(CallbacksConfig(), "Checkpoints, early stopping and monitors.")
    Trainer: dict[str, Any] = _f({}, "Extra keyword arguments passed to lightning.Trainer.")

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dict that :func:`gan_engine.load_config` reads back unchanged."""
        from gan_engine.config.serialize import dump

        return dump(self)
