"""Out-of-core: stream Arrow sources through undertow's accumulators, batch by batch.

`scan` is the entry point (``undertow.scan``). The pieces below are public so `undertow.dask`
runs the very same leaves (jobs over fragments) and the same reduction tree on a cluster:

* `arrow`: Arrow columns -> numpy views and polars frames, the Parquet read options;
* `jobs`: what one leaf computes (PSI, histogram, embedding drift, covariance, random features);
* `fragments`: the files or row groups of a path source, their schema checks, reading one leaf;
* `tree`: the fixed reduction tree (`tree_shape`, `merge_group`, `TreeReducer`);
* `progress`: a tqdm.auto bar or log lines; `sources`: Lance fragments, iterators, rebatching;
* `scan`: the `Scan` object and `scan()`.
"""

from undertow.stream.arrow import arrow_frame, arrow_vectors, fixed_width, vector_dim
from undertow.stream.fragments import (
    DEFAULT_BATCH_SIZE,
    Fragment,
    check_schema,
    expected_types,
    leaf_starts,
    list_fragments,
    read_fragment,
)
from undertow.stream.jobs import CovarianceJob, EmbeddingJob, HistogramJob, PsiJob, RffJob
from undertow.stream.scan import Scan, scan
from undertow.stream.tree import DEFAULT_SPLIT_EVERY, TreeReducer, merge_group, tree_shape

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SPLIT_EVERY",
    "CovarianceJob",
    "EmbeddingJob",
    "Fragment",
    "HistogramJob",
    "PsiJob",
    "RffJob",
    "Scan",
    "TreeReducer",
    "arrow_frame",
    "arrow_vectors",
    "check_schema",
    "expected_types",
    "fixed_width",
    "leaf_starts",
    "list_fragments",
    "merge_group",
    "read_fragment",
    "scan",
    "tree_shape",
    "vector_dim",
]
