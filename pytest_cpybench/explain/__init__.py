"""Why a result is slower: triage of a failure (code, bimodal, environment, layout) and differential
profiles of the base and head interpreters on the failing benchmark (instructions per function
under cachegrind, samples per symbol under ``perf record``), measured after the verdict, never
inside its measurements. The pure parts (:mod:`.model`, :mod:`.triage`, :mod:`.instructions`,
:mod:`.samples`) work on data; :mod:`.profiler` runs the processes and keeps the raw files."""
