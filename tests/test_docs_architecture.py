"""docs/architecture.md: its code examples run as written."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_architecture_examples_run():
    text = (ROOT / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/architecture.md", "exec"), {"__name__": "docs_example"})
