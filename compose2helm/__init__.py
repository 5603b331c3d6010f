"""compose2helm: docker-compose deployments of OPEA GenAIExamples as Helm charts."""

__version__ = "0.1.0"
