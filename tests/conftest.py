"""Shared test setup: float32 CPU JAX, one compilation cache, and one trained tiny model for the
session."""

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One XLA compilation cache for the session, this process and the CLI subprocesses it starts
# (they inherit the environment): the tiny programs many tests compile are compiled once.
# Fresh per session, removed at exit. (Measured: a quarter off the subprocess-heavy tests.)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="icl-ood-xla-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_cache,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(run folder, summary) of the tiny preset trained straight through (1000 steps), once per
    session for every module that needs a trained model. Treat it as read-only: a test that
    writes into a run (resumes it, evaluates into it) works on a shutil.copytree of it."""
    from icl_ood import presets
    from icl_ood.train import train

    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    summary = train(presets.get("tiny"), run_dir, progress=False)
    return run_dir, summary
