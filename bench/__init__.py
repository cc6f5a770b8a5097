"""Benchmarks: this project side by side with what its users would use instead (`make bench`).

Every comparison runs its contenders round by round in one run, on one machine, and reports the
median and the spread of each, and their ratio. ``QUICK=1`` is a smoke of the same code: it proves
the harness works, and its figures are not to be quoted.
"""
