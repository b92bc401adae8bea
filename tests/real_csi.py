"""Where the tests find real CSI recorded by RuView nodes.

The full recording is used when it is there: ``$RUV_REAL_CSI_DIR``, else a
``shared/real-csi`` directory beside the checkout (beside the main checkout
for a git worktree), which is where CI puts it. Otherwise the committed
excerpt in tests/data/real-csi (its README says where it comes from), so the
tests always run on real frames.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXCERPT_DIR = REPO / "tests" / "data" / "real-csi"


def _checkouts() -> list[Path]:
    roots = [REPO]
    git = REPO / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if gitdir.parent.name == "worktrees":
                roots.append(gitdir.parent.parent.parent)
    return roots


def full_recording_dir() -> Path | None:
    env = os.environ.get("RUV_REAL_CSI_DIR")
    candidates = [Path(env)] if env else []
    candidates += [root.parent / "shared" / "real-csi" for root in _checkouts()]
    for d in candidates:
        if d.is_dir() and any(d.glob("*.csi.jsonl")):
            return d
    return None


def recording_files() -> tuple[list[Path], str]:
    """The ``*.csi.jsonl`` files to test with and what they are."""
    d = full_recording_dir()
    if d is not None:
        return sorted(d.glob("*.csi.jsonl")), f"full recording in {d}"
    return sorted(EXCERPT_DIR.glob("*.csi.jsonl")), "committed excerpt (tests/data/real-csi)"
