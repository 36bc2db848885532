"""Typed configuration: schema, loading, validation and JSON Schema export."""

from gan_engine.config.jsonschema import config_schema
from gan_engine.config.loader import apply_overrides, dump, load_config, read_config_file
from gan_engine.config.schema import ComponentSpec, Config

__all__ = ["ComponentSpec", "Config", "apply_overrides", "config_schema", "dump", "load_config", "read_config_file"]
