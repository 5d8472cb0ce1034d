"""Snakemake glue for rule report (see benchmark.report)."""

import json
from pathlib import Path

from benchmark.logs import setup_logging
from benchmark.report.render import write_leaderboard

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
write_leaderboard(json.loads(Path(sm.input.results).read_text()), sm.output.html)
