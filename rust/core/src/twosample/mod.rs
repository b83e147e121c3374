//! The classic two-sample tests: Kolmogorov–Smirnov, Wasserstein-1 (from the two sorted
//! samples) and chi-square, Jensen–Shannon and Hellinger (from two count vectors, the same bins
//! as PSI).
//!
//! Streaming: the count-based tests merge exactly like PSI (integer counts). KS and Wasserstein
//! need both empirical CDFs, so their state is the sorted sample itself (`SortedSample`, O(n)
//! memory): an update sorts the batch and merges it into the run, a merge merges two runs, so
//! any split of the data gives the same sorted values and the same result.

pub mod counts;
pub mod ecdf;
pub mod kolmogorov;
pub mod ks;
pub mod ks_buckets;
pub mod ks_exact;
pub mod sorted;
