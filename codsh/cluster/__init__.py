"""The cluster on Dask distributed: codsh nodes are Dask workers beside a kubo and a Docker engine."""
