"""Tabular drift: numpy-compatible histograms, PSI of one column, `Reference` tables of many
columns (numeric and categorical) and their result types. The public names are re-exported by
`undertow`; this package only holds the modules."""
