"""The paper protocol (issue 7): experiment scripts run as ``python -m benchmarks.paper.NAME``; see README.md."""
