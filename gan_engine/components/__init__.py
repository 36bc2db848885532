"""The built-in components, one subpackage per registry.

``gan_engine.generators`` (and its siblings) is the registry; the code of the built-in
generators lives in :mod:`gan_engine.components.generators`, so that a module path never
shares a name with a registry: ``ge.generators.get("srresnet")`` is the class that
``gan_engine.components.generators.srresnet`` defines.
"""
