"""ttc, the test-time compute harness: the one import name of the project.

The repository keeps one folder per floor (contracts/, generators/, strategies/, verifiers/, tasks/,
sandbox/, analysis/, harness/); setuptools installs each as a subpackage of `ttc` (see pyproject.toml).
"""

__version__ = "0.1.0"
