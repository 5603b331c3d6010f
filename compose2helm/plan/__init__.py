"""Mapping stage: a ComposeProject and the mapping rules in, an ExamplePlan out (each service's
chart, values and findings: why every difference from compose exists)."""
