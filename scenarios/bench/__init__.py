"""The `make bench-*` programs: side-by-side measurements, medians and ratios."""
