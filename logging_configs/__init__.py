"""The shipped dictConfig YAML files (installed as ``hftlogging.logging_configs``)."""
