"""The life of a job, written once.

run         list, recall, split, plan + execute, collect, finish: `run_job`
execution   the seam to where it runs: this node (local) or the cluster (cluster/execution)
local       the execution on this node (trio, Docker or wasmtime)
events      the one sink for a job's events (progress bar, records, memo)
finish      merge by reference, manifest, the job's result
limit       a job's price limit (--max-price): stop the execution when its bill reaches it
quote       the quote's sample, run as a recorded job of its own (core/quote estimates)
recorded    a job with its record kept in the store, whatever its end
pipeline    a pipeline's steps, each a recorded job fed by the last
store       job records, per-file results and the memo, in SQLite
states      a record's states and their exit codes (clients read them without the store)
"""
