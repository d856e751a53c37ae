"""The README's Python API block runs as written (in a temporary folder) and does what it says."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def api_block() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):text.index("## Add your own function family")]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_python_api_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(api_block(), "README.md (Python API)", "exec"), scope)  # noqa: S102
    assert scope["step"] == 200 and (tmp_path / "api.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "runs/api-seeds").iterdir()) == ["seed0", "seed1"]
    assert scope["preds"].shape == (1, 11)
    k10 = scope["k10"]
    assert set(k10) == {"model", "least_squares", "bayes_mixture"}
    assert k10["bayes_mixture"] < 1e-6 and k10["model"] < 1.0  # d = 1, noiseless: Bayes exact at k >= 1
