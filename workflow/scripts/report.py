"""Snakemake glue for rule report (see benchmark.report)."""

import json
from pathlib import Path

from benchmark.logs import setup_logging
from benchmark.report.render import write_leaderboard

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
maps = {d: json.loads(Path(p).read_text()) for d, p in zip(sm.params.datasets, sm.input.maps, strict=True)}
write_leaderboard(json.loads(Path(sm.input.results).read_text()), sm.output.html, maps)
