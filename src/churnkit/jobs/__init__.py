"""One module per command: each job loads, computes and writes what its command promises.

The CLI (churnkit.cli) only parses options and prints; jobs never print or exit (they return results and
raise churnkit.errors).
"""
