"""The training engine: :class:`~gan_engine.training.module.GANModule` and its phases.

Submodules import Lightning; ``import gan_engine`` does not import this package.
"""
