"""The code sandbox and program assembly: a neutral floor that code tasks and the unit-test verifier share."""
