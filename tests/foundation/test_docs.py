"""Documentation that is generated or quoted must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from gan_engine.config.reference import config_reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_page_is_up_to_date() -> None:
    page = ROOT / "docs" / "reference" / "configuration.md"
    assert page.read_text() == config_reference_markdown(), (
        "docs/reference/configuration.md is stale: run "
        "`python -m gan_engine.config.reference > docs/reference/configuration.md`")


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) == 2, "the README keeps exactly two set-up commands"
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_python_example_configures_a_valid_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The README's example up to the training call: its config and overrides must load."""
    readme = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)[0]
    setup = code.split("result = ge.fit")[0]
    namespace: dict[str, object] = {}
    monkeypatch.chdir(ROOT)
    exec(setup, namespace)
    cfg = namespace["cfg"]
    assert cfg.Training.max_steps == 300  # type: ignore[attr-defined]
