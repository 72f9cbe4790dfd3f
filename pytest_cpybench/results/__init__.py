"""Results at rest: bench_runner's file names, the metadata we stamp, the results store."""
