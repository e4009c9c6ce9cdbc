"""pytest fixtures of the infrastructure checks (helpers live in _infra.py)."""

from _infra import binary_dirs, tf_binaries, tf_locals, topology  # noqa: F401  (fixtures)
