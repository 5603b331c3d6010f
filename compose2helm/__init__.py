"""compose2helm: docker-compose deployments of OPEA GenAIExamples as Helm charts.

The library API is importable from here (`compose2helm.convert(...)`); each name loads its
stage only when used, so the command line starts without the stages it does not run.
"""

__version__ = "0.1.0"

_API = {
    "convert": "pipeline.convert", "convert_many": "pipeline.convert", "Source": "pipeline.convert",
    "ConvertResult": "pipeline.convert", "prepare": "plan.prepare", "Prepared": "plan.prepare",
    "migrate": "pipeline.migrate", "check": "pipeline.drift", "explain_files": "pipeline.explain",
    "explain_tree": "pipeline.explain", "verify_files": "pipeline.verify",
    "InputError": "errors", "VerificationError": "errors",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'compose2helm' has no attribute {name!r}")
    from importlib import import_module
    module = import_module(f".{_API[name]}", __name__)
    return getattr(module, "verify" if name == "verify_files" else name)
