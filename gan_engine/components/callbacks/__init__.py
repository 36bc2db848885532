"""Built-in callbacks. They import Lightning, so they are declared here by name and imported
on first use: ``import gan_engine`` and ``callbacks.names()`` stay light."""

from gan_engine.registry import callbacks

# name -> "module:attribute"; each module also registers its class at the definition site.
_BUILTINS: dict[str, str] = {
    "best_checkpoints": "gan_engine.components.callbacks.checkpoints:BestCheckpoints",
    "curves_plot": "gan_engine.components.callbacks.records:CurvesPlot",
    "ema": "gan_engine.components.callbacks.ema:EMA",
    "fid_kid": "gan_engine.components.callbacks.fid:FIDKID",
    "gan_health": "gan_engine.components.callbacks.gan_health:GANHealthMonitor",
    "gradient_norm": "gan_engine.components.callbacks.gradient_norm:GradientNormMonitor",
    "graceful_stop": "gan_engine.components.callbacks.interrupts:GracefulStop",
    "histograms": "gan_engine.components.callbacks.histograms:Histograms",
    "image_panels": "gan_engine.components.callbacks.images:ImagePanels",
    "metrics_file": "gan_engine.components.callbacks.records:MetricsFile",
    "periodic_checkpoint": "gan_engine.components.callbacks.checkpoints:PeriodicCheckpoint",
    "progress_bar": "gan_engine.components.callbacks.progress:GANProgressBar",
    "progress_file": "gan_engine.components.callbacks.records:ProgressFile",
    "system_stats": "gan_engine.components.callbacks.records:SystemStats",
    "training_log": "gan_engine.components.callbacks.records:TrainingLog",
}

for _name, _target in _BUILTINS.items():
    callbacks.declare(_name, _target)
