"""Python functions as jobs: bundles (script + manifest + wheels) made on the client, environments
built from them offline on the nodes, and the runner that calls the function once per file."""
