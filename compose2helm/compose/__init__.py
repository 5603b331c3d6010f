"""Input stage: compose files (and env files) in, a frozen typed ComposeProject out.

Reading YAML, interpolation, env files, include/extends and `-f` merging, compose-spec
validation, and where a file sits in the GenAIExamples layouts."""
