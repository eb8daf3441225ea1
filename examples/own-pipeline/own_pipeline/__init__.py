"""An ETL of its own, to show dasklab testing someone else's Dask code."""
