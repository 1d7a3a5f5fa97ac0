"""The ground floor: protocols, records, errors, the sample-line schema and the rules several floors share.

Imports nothing of ours beyond itself; every other floor may import it.
"""
