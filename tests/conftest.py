"""Shared test setup: float32 CPU JAX, quiet logs."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
