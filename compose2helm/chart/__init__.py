"""Chart stage: an ExamplePlan in, chart files out (common charts, the umbrella, overlays, GMC),
as text from the jinja2 templates in templates/."""
