"""ttc, the test-time compute harness: the one import name of the project.

One folder per floor under ttc/, so a file's path is its import path (ttc/contracts/records.py is
ttc.contracts.records): contracts, generators, strategies, verifiers, tasks, sandbox, analysis, harness.
"""

__version__ = "0.1.0"
