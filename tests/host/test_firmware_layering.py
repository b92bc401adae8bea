"""firmware/main is a thin layer with no call circle (docs/firmware.md).

Each module of firmware/main is a ``.c`` file and its header; a module
"calls" another when it includes that module's header. The graph must be a
DAG with app_main at the top, the tasks and the platform calling down only
(never into each other or into app_main), and the portable ruv_app component
including nothing of firmware/main.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "firmware" / "main"
APP = ROOT / "firmware" / "components" / "ruv_app"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_graph() -> dict[str, set[str]]:
    local = {p.stem for p in MAIN.glob("*.h")}
    graph: dict[str, set[str]] = {}
    for src in sorted(MAIN.glob("*.c")) + sorted(MAIN.glob("*.h")):
        deps = {Path(h).stem for h in INCLUDE.findall(src.read_text())}
        graph.setdefault(src.stem, set()).update(d for d in deps & local if d != src.stem)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.get(n, ()))
    return seen


def test_no_module_reaches_itself() -> None:
    graph = module_graph()
    assert graph, "no modules found"
    cycles = [m for m in graph if m in reachable(graph, m)]
    assert not cycles, f"call circle through {cycles}: {graph}"


def test_nothing_calls_app_main_and_tasks_do_not_call_each_other() -> None:
    graph = module_graph()
    assert "app_main" not in set().union(*graph.values())
    assert not (MAIN / "ruv_main.h").exists(), "the old shared header of the knot is back"
    tasks = {"temporal_task", "console_task"}
    for t in tasks:
        assert not (reachable(graph, t) & (tasks | {"platform_idf", "app_main"})), (t, graph[t])
    assert not (reachable(graph, "platform_idf") & (tasks | {"app_main"})), graph["platform_idf"]
    # the frame queue is the bottom: it calls nothing of firmware/main
    assert reachable(graph, "frame_queue") == set(), graph["frame_queue"]


def test_tasks_only_wait_and_call_ruv_app() -> None:
    """The schedule and the line reader live in ruv_app: the tasks hold no
    copy of them (no deadline arithmetic, no line buffer)."""
    temporal = (MAIN / "temporal_task.c").read_text()
    console = (MAIN / "console_task.c").read_text()
    assert "ruv_app_temporal_turn" in temporal and "frame_queue_receive" in temporal
    assert "deadline +=" not in temporal and "xTaskGetTickCount" not in temporal
    assert "ruv_app_console_input" in console
    assert "'\\n'" not in console and "'\\r'" not in console


def test_portable_app_includes_nothing_of_firmware_main() -> None:
    main_headers = {p.name for p in MAIN.glob("*.h")}
    for src in list(APP.rglob("*.c")) + list(APP.rglob("*.h")):
        inc = set(INCLUDE.findall(src.read_text()))
        assert not inc & main_headers, (src, inc & main_headers)
        assert not any(h.startswith(("esp_", "freertos/", "driver/")) for h in inc), (src, inc)
