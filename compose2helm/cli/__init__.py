"""The command line: typer commands over the pipeline's library API, and how reports print."""
