"""Typed configuration: schema, parse / resolve / check, serialisation and JSON Schema export."""

from gan_engine.config.jsonschema import config_schema
from gan_engine.config.loader import load_config
from gan_engine.config.parse import apply_overrides, read_config_file
from gan_engine.config.schema import ComponentSpec, Config
from gan_engine.config.serialize import dump

__all__ = ["ComponentSpec", "Config", "apply_overrides", "config_schema", "dump", "load_config", "read_config_file"]
