"""codsh: run shell commands next to data on IPFS; every job turns a CID into a new CID."""

__version__ = "0.1.0"
