"""The component contract as reusable checks, for plugin authors and for gan_engine's own tests.

Each ``check_*`` function builds or takes a component (with the keyword arguments you
pass, e.g. tiny widths), exercises it the way the engine will, and raises
:class:`ContractViolation` (an ``AssertionError``) naming the component and the broken
rule. Call them from a plain pytest test::

    from gan_engine.testing import check_generator

    def test_my_generator_contract():
        check_generator(MyGenerator, n_channels=8)

See ``docs/how-to/test-a-plugin.md``.
"""

from gan_engine.testing._common import BAND_COUNTS, ContractViolation
from gan_engine.testing.losses import check_content_loss
from gan_engine.testing.networks import check_discriminator, check_generator
from gan_engine.testing.normalizers import check_normalizer

__all__ = [
    "BAND_COUNTS",
    "ContractViolation",
    "check_content_loss",
    "check_discriminator",
    "check_generator",
    "check_normalizer",
]
