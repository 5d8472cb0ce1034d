"""Snakemake glue for rule embedding_maps (see benchmark.report.maps), supervised (benchmark.supervisor):
maps that cannot be drawn leave an empty map file, so the report still appears."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    from benchmark.data.contract import read_dataset
    from benchmark.io import write_json
    from benchmark.report.maps import embedding_maps

    dataset = read_dataset(sm.input.dataset, x=False)
    maps = embedding_maps(dataset, dict(zip(sm.params.models, sm.input.embeddings, strict=True)), sm.params.seed)
    write_json(maps, sm.output.maps)


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
