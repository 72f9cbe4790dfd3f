"""Measuring: one benchmark's pyperf processes, interleaved adaptive rounds, loops, instruction counts, CPUs."""
