"""Job logging. A workflow step runs supervised (benchmark.supervisor): its stderr is the job's log file,
so it logs to stderr only; ``log_path`` adds a file for code run outside the workflow."""

import logging
import sys


def setup_logging(log_path: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
