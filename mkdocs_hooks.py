"""Build hooks of the documentation site (mkdocs.yml `hooks:`).

The site ships Mermaid so that diagrams render offline: the copy the inbox already carries
(`statemachine/web/static/mermaid/`), put where `extra_javascript` names it, rather than a
second copy in `docs/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

MERMAID = Path(__file__).parent / "statemachine" / "web" / "static" / "mermaid"


def on_post_build(config: Any, **kwargs: Any) -> None:
    target = Path(config["site_dir"]) / "javascripts"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MERMAID / "mermaid.min.js", target / "mermaid.min.js")
    shutil.copyfile(MERMAID / "LICENSE", target / "mermaid.LICENSE")
