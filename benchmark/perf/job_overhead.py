"""What each workflow job pays before it works: the imports of its process, timed in fresh interpreters.

    python -m benchmark.perf.job_overhead [--repeats 3]

Every job runs two Python processes (benchmark.supervisor): the supervising one, which only unpickles
Snakemake's job object (a ``ModelSpec`` for model steps), and the step itself, which imports what its script
uses. For each kind of job this prints the median CPU seconds of those imports (CPU, not wall: steadier on
a busy machine) and which heavy libraries they load, so an import that creeps onto a path that does not
need it shows up. The numbers are a floor under every job of that kind (the CI runs ~300 jobs).
"""

import argparse
import json
import statistics
import subprocess
import sys

JOB_IMPORTS = {  # the modules a job's process imports before it reads its inputs
    "supervising process (every job)": ["benchmark.registry", "benchmark.supervisor"],
    "embed, a control (random)": ["benchmark.embedding", "models.random.model"],
    "embed, an scFM (geneformer)": ["benchmark.embedding", "models.geneformer.model"],
    "finetune": ["benchmark.finetuning"],
    "evaluate": ["benchmark.io", "benchmark.tasks.evaluate"],
    "ontology": ["benchmark.data.sources", "benchmark.ontology", "metrics.scgraph"],
    "embedding_maps": ["benchmark.data.contract", "benchmark.io", "benchmark.report.maps"],
    "prepare_dataset": ["benchmark.data.prepare"],
}
HEAVY = ("torch", "jax", "scvi", "scanpy", "sklearn", "umap", "numba", "matplotlib", "networkx", "scipy.stats")
PROBE = """
import json, sys, time
start = time.process_time()
for module in {modules!r}:
    __import__(module)
print(json.dumps([time.process_time() - start, [m for m in {heavy!r} if m in sys.modules]]))
"""


def import_cost(modules: list[str]) -> tuple[float, list[str]]:
    """CPU seconds to import ``modules`` in a fresh interpreter, and the heavy libraries that came with them."""
    probe = PROBE.format(modules=modules, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    seconds, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh interpreters per job kind (median shown)")
    args = parser.parse_args()
    print(f"{'job kind':34s} {'import CPU s':>12s}  heavy libraries loaded")
    for kind, modules in JOB_IMPORTS.items():
        runs = [import_cost(modules) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in runs)
        print(f"{kind:34s} {seconds:12.2f}  {', '.join(runs[0][1]) or '-'}")


if __name__ == "__main__":
    main()
