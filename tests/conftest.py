"""Shared test setup: float32 CPU JAX, quiet logs, and one trained tiny model for the session."""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


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
