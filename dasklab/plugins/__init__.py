"""Code that runs inside the cluster's processes (preloads, worker and
scheduler plugins). It must import with the image's packages alone."""
