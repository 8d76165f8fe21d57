"""One module per command: each job loads, computes and writes what its command promises.

validate, kpis, features, train, score, segment, report, evaluate (and evaluate-campaign), generate; `demo` is
a list of these job calls on a sample shop. Each job takes a Config (plus explicit arguments, or an already
loaded shop as ``data``), writes its files atomically and returns a small result object (paths, tables,
lines to print, a JSON-able summary). The CLI (churnkit.cli) only parses options and prints; jobs never
print or exit: they report steps through a ``progress`` callback and raise churnkit.errors.
"""
