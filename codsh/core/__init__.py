"""The deciders and the records every layer shares; pure, no I/O (a test keeps it so).

model       input files, shards, file results with a typed outcome, setup costs
spec        the job spec (what runs, on what, with which limits, where): canonical JSON
plan        sharding and placement next to the data (and the locality report)
reschedule  what a lost shard means (files finished are kept, the rest run again)
memo        memo keys, what may be reused, and the split into done / to do
merge       the dag-pb nodes that link outputs by reference (per-file tree, concat file)
manifest    the job's record stored beside its output
pipeline    `codsh pipe`'s stages and which of them fuse into one step
dataset     one dataset over many CIDs
unixfs      UnixFS / dag-pb encoding and CIDs
"""
