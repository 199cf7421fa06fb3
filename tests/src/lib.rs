//! Shared helpers for the end-to-end tests (the one-node SLURM cluster, unique output folders).
