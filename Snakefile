# scFM benchmark: datasets x models x tasks -> reports/<run>/leaderboard.html
# Run: snakemake --cores 2                      (default config)
#      snakemake --cores 2 --configfile config/test.yaml

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        leaderboard(),
    default_target: True
