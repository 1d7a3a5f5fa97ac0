"""Analysis: estimators, curves, tables and plots, all derived from run directories."""
