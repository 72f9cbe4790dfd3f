"""A branch's results over its commits: series, change points, their pages, and confirming them.

The pure parts (:mod:`.series`, :mod:`.detect`, :mod:`.changes`, :mod:`.text`) read no file and
start no process; :mod:`.collect` reads the store and git, :mod:`.backfill` measures commits into
the store, :mod:`.confirm` measures change points again and bisects them, :mod:`.pages` and
:mod:`.plots` write what people read.
"""
