"""Snakemake glue for rule report (see benchmark.report), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import json
    from pathlib import Path

    from benchmark.report.render import write_leaderboard

    maps = {d: json.loads(Path(p).read_text()) for d, p in zip(sm.params.datasets, sm.input.maps, strict=True)}
    write_leaderboard(json.loads(Path(sm.input.results).read_text()), sm.output.html, maps)


supervise(snakemake, main)  # noqa: F821 - snakemake is injected by Snakemake
