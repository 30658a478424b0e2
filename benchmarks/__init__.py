"""Scripts that produce the numbers in docs/; each names the command that reruns it in its docstring."""
