"""The embedded Helm engine: chart directories and values in, rendered documents and lint
messages out; the `template` and `dependency update` commands."""
