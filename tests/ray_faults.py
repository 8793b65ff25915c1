"""Faults for test_score_ray.py, installed in every Ray worker by the runtime_env's worker_process_setup_hook.

The test writes plan.json into $EDGE_SENTIMENT_TEST_FAULTS: {"where": "scoring" | "written", "row": R}.
The first worker to reach row R there (after scoring its chunk, or after writing its shard but before
recording it done) writes its pid to "fired" and kills itself with SIGKILL, as an OOM killer or a lost
node would; Ray then restarts the actor and retries the task. With "stall": S as well, it sleeps S seconds
there instead, as a worker stuck on a hung file system would. The production code has no hook for this.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any


def setup() -> None:
    folder = os.environ.get("EDGE_SENTIMENT_TEST_FAULTS")
    if not folder:
        return
    from edge_sentiment.scoring import ray_engine

    def fire(where: str, rows: list[int]) -> None:
        plan_file = Path(folder, "plan.json")
        if not plan_file.exists():
            return
        plan = json.loads(plan_file.read_text())
        if plan["where"] != where or plan["row"] not in rows:
            return
        try:
            fd = os.open(Path(folder, "fired"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # once per plan: the retry must get through
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if "stall" in plan:
            time.sleep(plan["stall"])
            return
        os.kill(os.getpid(), signal.SIGKILL)

    score_items, write_part = ray_engine.score_items, ray_engine.write_part

    def scoring(predictor: Any, items: Any, keep_text: Any) -> Any:
        out = score_items(predictor, items, keep_text)
        fire("scoring", [item.row for item in items])
        return out

    def written(path: Path, fmt: str, rows: list[dict[str, Any]], *args: Any) -> Any:
        out = write_part(path, fmt, rows, *args)
        fire("written", [row["row"] for row in rows])
        return out

    ray_engine.score_items = scoring  # type: ignore[assignment]
    ray_engine.write_part = written  # type: ignore[assignment]
