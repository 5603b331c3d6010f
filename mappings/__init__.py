"""Mapping rules (YAML data), installed as compose2helm.mappings."""
