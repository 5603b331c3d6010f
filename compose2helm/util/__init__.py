"""Helpers every stage may use: object names, quantities, scratch space, file stamps, the clock."""
