//! The fitted PSI reference and its mergeable accumulator (fit -> update -> merge -> finalize).
//!
//! The reference holds, per column, the bin edges (numeric) or the categories (categorical) and
//! the reference counts. An accumulator holds the current side's integer counts, so merging is
//! addition and `finalize` after any split of the data into batches, threads, files or machines
//! gives bit for bit the result of one call over all of it.

use crate::codec::{Kind, Reader, Writer};
use crate::count::count_at_least_rows;
use crate::edges::{bin_counts, bins_from_at_least, thresholds_for};
use crate::error::{Error, Result};
use crate::psi::{proportions, psi_from_proportions, status, validate_eps, validate_thresholds};
use crate::sample::Sample;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanPolicy {
    /// Non-finite values are an error naming the column and the count.
    Raise,
    /// Non-finite values are dropped from both sides.
    Omit,
    /// Non-finite values get their own bin: a rising missing rate is drift.
    Bin,
}

impl NanPolicy {
    pub fn parse(text: &str) -> Result<NanPolicy> {
        match text {
            "raise" => Ok(NanPolicy::Raise),
            "omit" => Ok(NanPolicy::Omit),
            "bin" => Ok(NanPolicy::Bin),
            other => Err(Error::invalid(
                "nan_policy",
                format!("must be 'raise', 'omit' or 'bin', got {other:?}"),
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            NanPolicy::Raise => "raise",
            NanPolicy::Omit => "omit",
            NanPolicy::Bin => "bin",
        }
    }
    /// Checks a side's missing count against the policy.
    pub fn check(self, argument: &str, column: &str, missing: u64) -> Result<()> {
        if self == NanPolicy::Raise && missing > 0 {
            return Err(Error::invalid(
                argument,
                format!(
                    "column {column:?} has {missing} missing values (NaN, inf or null); pass \
                     nan_policy='omit' to drop them or 'bin' to count them in their own bin"
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Interior edges; bins = edges + 1.
    Numeric { edges: Vec<f64> },
    /// Reference categories; bins = categories + 1, the last for categories unseen in the
    /// reference.
    Categorical { categories: Vec<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceColumn {
    pub name: String,
    pub kind: ColumnKind,
    /// Reference counts per bin (missing values excluded).
    pub counts: Vec<u64>,
    pub missing: u64,
}

impl ReferenceColumn {
    pub fn bins(&self) -> usize {
        match &self.kind {
            ColumnKind::Numeric { edges } => edges.len() + 1,
            ColumnKind::Categorical { categories } => categories.len() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PsiReference {
    pub columns: Vec<ReferenceColumn>,
    pub nan_policy: NanPolicy,
    pub eps: f64,
    pub moderate: f64,
    pub significant: f64,
}

/// One column's finalized PSI.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPsi {
    pub value: f64,
    pub status: &'static str,
    /// Counts per bin, with a trailing missing bin under nan_policy "bin".
    pub expected_counts: Vec<u64>,
    pub actual_counts: Vec<u64>,
    pub expected_proportions: Vec<f64>,
    pub actual_proportions: Vec<f64>,
    pub expected_missing: u64,
    pub actual_missing: u64,
}

impl PsiReference {
    pub fn new(
        columns: Vec<ReferenceColumn>,
        nan_policy: NanPolicy,
        eps: f64,
        moderate: f64,
        significant: f64,
    ) -> Result<Self> {
        validate_eps(eps)?;
        validate_thresholds(moderate, significant)?;
        if columns.is_empty() {
            return Err(Error::invalid("table", "has no columns"));
        }
        // A set, not a scan of the names before each: 64,000 columns took 6 s.
        let mut seen = std::collections::HashSet::with_capacity(columns.len());
        for c in columns.iter() {
            if !seen.insert(c.name.as_str()) {
                return Err(Error::invalid(
                    "table",
                    format!("column name {:?} appears twice", c.name),
                ));
            }
            validate_column(c).map_err(|m| Error::invalid("reference", m))?;
            nan_policy.check("expected", &c.name, c.missing)?;
            let extra = if nan_policy == NanPolicy::Bin {
                c.missing
            } else {
                0
            };
            let total = checked_total(&c.counts, extra).ok_or_else(|| {
                Error::invalid(
                    "expected",
                    format!("column {:?}: the counts sum past 2**64", c.name),
                )
            })?;
            if total == 0 {
                return Err(Error::invalid(
                    "expected",
                    format!("column {:?} has no values", c.name),
                ));
            }
        }
        Ok(PsiReference {
            columns,
            nan_policy,
            eps,
            moderate,
            significant,
        })
    }

    /// Fits a numeric column: edges from `data` alone, then its counts.
    pub fn fit_numeric<T: Sample>(
        name: &str,
        data: &[T],
        bins: usize,
        binning: &crate::edges::Binning,
        nan_policy: NanPolicy,
    ) -> Result<ReferenceColumn> {
        if bins < 2 && !matches!(binning, crate::edges::Binning::Explicit(_)) {
            return Err(Error::invalid("bins", format!("must be >= 2, got {bins}")));
        }
        if data.is_empty() {
            return Err(Error::invalid(
                "expected",
                format!("column {name:?} is empty"),
            ));
        }
        if matches!(binning, crate::edges::Binning::Quantile) {
            let q = crate::quantile::linspace_unit(bins);
            if let Some(fit) = crate::select::linear_quantiles_one_pass(data, &q) {
                // One pass gave the edges and (almost always) the counts.
                let edges = crate::edges::interior_from_quantiles(&fit.quantiles, bins);
                nan_policy.check("expected", name, data.len() as u64 - fit.finite)?;
                let (counts, missing) = fit
                    .bin_counts(&edges)
                    .map_or_else(|| bin_counts(data, &edges), Ok)
                    .map_err(|e| e.naming("expected"))?;
                return Ok(ReferenceColumn {
                    name: name.to_string(),
                    kind: ColumnKind::Numeric { edges },
                    counts,
                    missing,
                });
            }
        }
        // The fitting pass counts the finite values, so the policy is checked right after it.
        let (edges, finite) = crate::edges::fit_interior_edges(data, bins, binning)
            .map_err(|e| e.naming("expected"))?;
        nan_policy.check("expected", name, data.len() as u64 - finite)?;
        if finite == 0 {
            return Err(Error::invalid(
                "expected",
                format!("column {name:?} has no finite values to fit bin edges on"),
            ));
        }
        let (counts, missing) = bin_counts(data, &edges).map_err(|e| e.naming("expected"))?;
        Ok(ReferenceColumn {
            name: name.to_string(),
            kind: ColumnKind::Numeric { edges },
            counts,
            missing,
        })
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.write(&mut w);
        w.finish(Kind::PsiReference)
    }

    fn write(&self, w: &mut Writer) {
        w.u8(match self.nan_policy {
            NanPolicy::Raise => 0,
            NanPolicy::Omit => 1,
            NanPolicy::Bin => 2,
        });
        w.f64(self.eps);
        w.f64(self.moderate);
        w.f64(self.significant);
        w.u64(self.columns.len() as u64);
        for c in &self.columns {
            w.str(&c.name);
            match &c.kind {
                ColumnKind::Numeric { edges } => {
                    w.u8(0);
                    w.f64s(edges);
                }
                ColumnKind::Categorical { categories } => {
                    w.u8(1);
                    w.u64(categories.len() as u64);
                    categories.iter().for_each(|s| w.str(s));
                }
            }
            w.u64s(&c.counts);
            w.u64(c.missing);
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::PsiReference)?;
        let reference = Self::read(&mut r)?;
        r.finish()?;
        Ok(reference)
    }

    fn read(r: &mut Reader) -> Result<Self> {
        let nan_policy = match r.u8()? {
            0 => NanPolicy::Raise,
            1 => NanPolicy::Omit,
            2 => NanPolicy::Bin,
            other => {
                return Err(Error::InvalidState(format!(
                    "unknown nan_policy code {other}"
                )))
            }
        };
        let (eps, moderate, significant) = (r.f64()?, r.f64()?, r.f64()?);
        let n = r.u64()?;
        let mut columns = Vec::new();
        for _ in 0..n {
            let name = r.str()?;
            let kind = match r.u8()? {
                0 => ColumnKind::Numeric { edges: r.f64s()? },
                1 => {
                    let k = r.u64()?;
                    let mut categories = Vec::new();
                    for _ in 0..k {
                        categories.push(r.str()?);
                    }
                    ColumnKind::Categorical { categories }
                }
                other => return Err(Error::InvalidState(format!("unknown column kind {other}"))),
            };
            let counts = r.u64s()?;
            let missing = r.u64()?;
            columns.push(ReferenceColumn {
                name,
                kind,
                counts,
                missing,
            });
        }
        PsiReference::new(columns, nan_policy, eps, moderate, significant)
            .map_err(|e| Error::InvalidState(e.to_string()))
    }
}

/// The sum of `counts` and `extra`, or None past `u64::MAX` (a wrapped total would give a
/// finite, wrong PSI).
fn checked_total(counts: &[u64], extra: u64) -> Option<u64> {
    counts.iter().try_fold(extra, |t, &c| t.checked_add(c))
}

fn validate_column(c: &ReferenceColumn) -> std::result::Result<(), String> {
    match &c.kind {
        ColumnKind::Numeric { edges } => {
            if edges.is_empty()
                || edges.iter().any(|e| !e.is_finite())
                || edges.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(format!(
                    "column {:?}: edges must be finite and strictly increasing",
                    c.name
                ));
            }
        }
        ColumnKind::Categorical { categories } => {
            // Each category owns one bin: a repeated one would leave a bin no value reaches.
            let mut seen = std::collections::HashSet::with_capacity(categories.len());
            if let Some(dup) = categories.iter().find(|s| !seen.insert(s.as_str())) {
                return Err(format!(
                    "column {:?}: category {dup:?} appears twice",
                    c.name
                ));
            }
        }
    }
    if c.counts.len() != c.bins() {
        return Err(format!(
            "column {:?}: {} counts for {} bins",
            c.name,
            c.counts.len(),
            c.bins()
        ));
    }
    Ok(())
}

/// Current-side counts against a fitted reference.
#[derive(Debug, Clone)]
pub struct PsiAccumulator {
    reference: Arc<PsiReference>,
    counts: Vec<Vec<u64>>,
    missing: Vec<u64>,
    /// Per column: sum of `counts` and `missing`, kept so the overflow check of an update costs
    /// the batch, not the bins (not serialized: recomputed on load).
    totals: Vec<u64>,
}

impl PsiAccumulator {
    pub fn new(reference: Arc<PsiReference>) -> Self {
        let counts = reference
            .columns
            .iter()
            .map(|c| vec![0; c.bins()])
            .collect();
        let missing = vec![0; reference.columns.len()];
        let totals = vec![0; reference.columns.len()];
        PsiAccumulator {
            reference,
            counts,
            missing,
            totals,
        }
    }

    pub fn reference(&self) -> &Arc<PsiReference> {
        &self.reference
    }

    fn numeric_edges(&self, column: usize) -> Result<&[f64]> {
        let c = self
            .reference
            .columns
            .get(column)
            .ok_or_else(|| Error::invalid("column", "index out of range"))?;
        match &c.kind {
            ColumnKind::Numeric { edges } => Ok(edges),
            ColumnKind::Categorical { .. } => Err(Error::invalid(
                "actual",
                format!("column {:?} is categorical in the reference", c.name),
            )),
        }
    }

    /// Adds one numeric column's values. Under nan_policy "raise" a batch with missing values
    /// is refused before anything is added.
    pub fn update_numeric<T: Sample>(&mut self, column: usize, data: &[T]) -> Result<()> {
        let (bins, missing) = self.count_numeric(column, data)?;
        self.check_room(column, &bins, missing)?;
        self.apply(column, &bins, missing);
        Ok(())
    }

    /// One numeric column's bin counts and missing count, checked against nan_policy but not
    /// added (`update_counts_all` adds them): a table's columns are all counted before any is
    /// added, so a refused batch leaves no partial update and no column is read twice.
    pub fn count_numeric<T: Sample>(&self, column: usize, data: &[T]) -> Result<(Vec<u64>, u64)> {
        let edges = self.numeric_edges(column)?;
        let (bins, missing) = bin_counts(data, edges).map_err(|e| e.naming("actual"))?;
        self.reference
            .nan_policy
            .check("actual", &self.reference.columns[column].name, missing)?;
        Ok((bins, missing))
    }

    /// Adds a C-ordered block whose `columns.len()` columns are the reference columns at those
    /// indices, in one pass over memory.
    pub fn update_numeric_rows<T: Sample>(&mut self, columns: &[usize], data: &[T]) -> Result<()> {
        let ncols = columns.len();
        if ncols == 0 || !data.len().is_multiple_of(ncols) {
            return Err(Error::invalid(
                "actual",
                "matrix shape does not match its columns",
            ));
        }
        let thresholds: Vec<Vec<T>> = columns
            .iter()
            .map(|&j| self.numeric_edges(j).map(thresholds_for::<T>))
            .collect::<Result<_>>()?;
        let counted = count_at_least_rows(data, ncols, &thresholds);
        let binned: Vec<(Vec<u64>, u64)> = counted
            .iter()
            .map(|c| bins_from_at_least(&c.at_least, c.total))
            .collect::<Result<_>>()
            .map_err(|e| e.naming("actual"))?;
        for (&j, (_, missing)) in columns.iter().zip(&binned) {
            self.reference
                .nan_policy
                .check("actual", &self.reference.columns[j].name, *missing)?;
        }
        for (&j, (bins, missing)) in columns.iter().zip(&binned) {
            self.check_room(j, bins, *missing)?;
        }
        for (&j, (bins, missing)) in columns.iter().zip(&binned) {
            self.apply(j, bins, *missing);
        }
        Ok(())
    }

    /// Adds `counts[k]` to bin `indices[k]` of column `column` (repeated indices add up): a
    /// batch's categories only, so a small batch against 1e6 categories costs the batch, not
    /// the category list. Checked in full before anything is added.
    pub fn update_counts_sparse(
        &mut self,
        column: usize,
        indices: &[u64],
        counts: &[u64],
        missing: u64,
    ) -> Result<()> {
        self.update_counts_all(&[], &[(column, indices, counts, missing)])
    }

    /// Adds counts computed elsewhere (categorical columns are encoded by the caller).
    pub fn update_counts(&mut self, column: usize, counts: &[u64], missing: u64) -> Result<()> {
        self.update_counts_all(&[(column, counts, missing)], &[])
    }

    /// A table's counts, dense (column, bin counts, missing) and sparse (column, bin indices,
    /// counts, missing), added only once every one has passed its checks (the bins, nan_policy,
    /// a column total below 2**64): a refused batch adds nothing, whichever column failed.
    pub fn update_counts_all(
        &mut self,
        dense: &[(usize, &[u64], u64)],
        sparse: &[(usize, &[u64], &[u64], u64)],
    ) -> Result<()> {
        // Each column's addition, summed over the batch (a column may come twice); a map, not
        // a search per column: a batch of 200,000 columns would be quadratic.
        let mut added: std::collections::HashMap<usize, u64> =
            std::collections::HashMap::with_capacity(dense.len() + sparse.len());
        let mut add = |column: usize, name: &str, n: Option<u64>| -> Result<()> {
            let past = || {
                Error::invalid(
                    "counts",
                    format!("column {name:?}: the counts would sum past 2**64"),
                )
            };
            let n = n.ok_or_else(past)?;
            let slot = added.entry(column).or_insert(0);
            let sum = slot.checked_add(n).ok_or_else(past)?;
            self.totals[column].checked_add(sum).ok_or_else(past)?;
            *slot = sum;
            Ok(())
        };
        let columns = &self.reference.columns;
        let column_of = |column: usize| {
            columns
                .get(column)
                .ok_or_else(|| Error::invalid("column", "index out of range"))
        };
        for &(column, counts, missing) in dense {
            let c = column_of(column)?;
            if counts.len() != c.bins() {
                return Err(Error::invalid(
                    "counts",
                    format!("{} counts for {} bins", counts.len(), c.bins()),
                ));
            }
            self.reference
                .nan_policy
                .check("actual", &c.name, missing)?;
            add(column, &c.name, checked_total(counts, missing))?;
        }
        for &(column, indices, counts, missing) in sparse {
            let c = column_of(column)?;
            if indices.len() != counts.len() {
                return Err(Error::invalid(
                    "counts",
                    format!("{} counts for {} indices", counts.len(), indices.len()),
                ));
            }
            let bins = c.bins() as u64;
            if let Some(bad) = indices.iter().find(|&&i| i >= bins) {
                return Err(Error::invalid(
                    "indices",
                    format!("index {bad} out of range for {bins} bins"),
                ));
            }
            self.reference
                .nan_policy
                .check("actual", &c.name, missing)?;
            add(column, &c.name, checked_total(counts, missing))?;
        }
        // Every column total stays <= 2**64 - 1, so no single count can wrap.
        for &(column, counts, missing) in dense {
            self.apply(column, counts, missing);
        }
        for &(column, indices, counts, missing) in sparse {
            for (&i, &n) in indices.iter().zip(counts) {
                self.counts[column][i as usize] += n;
            }
            self.missing[column] += missing;
            self.totals[column] += checked_total(counts, missing).unwrap_or(0);
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &PsiAccumulator) -> Result<()> {
        if *self.reference != *other.reference {
            return Err(Error::invalid(
                "other",
                "accumulators of different references cannot be merged",
            ));
        }
        for (j, (counts, &missing)) in other.counts.iter().zip(&other.missing).enumerate() {
            self.check_room(j, counts, missing)?;
        }
        for (j, (counts, &missing)) in other.counts.iter().zip(&other.missing).enumerate() {
            self.apply(j, counts, missing);
        }
        Ok(())
    }

    /// Adds counts already checked by `check_room`.
    fn apply(&mut self, column: usize, counts: &[u64], missing: u64) {
        add(&mut self.counts[column], counts);
        self.missing[column] += missing;
        self.totals[column] += checked_total(counts, missing).unwrap_or(0);
    }

    /// Refuses to add `counts` and `missing` to column `column` when its total would pass
    /// 2**64 (only reachable from loaded states near the limit; a wrapped count is a wrong PSI).
    /// Below the limit no single count can overflow either.
    fn check_room(&self, column: usize, counts: &[u64], missing: u64) -> Result<()> {
        match checked_total(counts, missing) {
            Some(b) if self.totals[column].checked_add(b).is_some() => Ok(()),
            _ => Err(Error::invalid(
                "counts",
                format!(
                    "column {:?}: the counts would sum past 2**64",
                    self.reference.columns[column].name
                ),
            )),
        }
    }

    /// Rows seen so far (taken from the first column).
    pub fn rows(&self) -> u64 {
        self.totals.first().copied().unwrap_or(0)
    }

    pub fn finalize(&self) -> Result<Vec<ColumnPsi>> {
        let r = &self.reference;
        r.columns
            .iter()
            .zip(self.counts.iter().zip(&self.missing))
            .map(|(c, (counts, &missing))| {
                let mut expected_counts = c.counts.clone();
                let mut actual_counts = counts.clone();
                if r.nan_policy == NanPolicy::Bin {
                    expected_counts.push(c.missing);
                    actual_counts.push(missing);
                }
                if actual_counts.iter().sum::<u64>() == 0 {
                    return Err(Error::invalid(
                        "actual",
                        format!("column {:?} has no values", c.name),
                    ));
                }
                let expected_proportions = proportions(&expected_counts);
                let actual_proportions = proportions(&actual_counts);
                let value = psi_from_proportions(&expected_proportions, &actual_proportions, r.eps);
                Ok(ColumnPsi {
                    value,
                    status: status(value, r.moderate, r.significant),
                    expected_counts,
                    actual_counts,
                    expected_proportions,
                    actual_proportions,
                    expected_missing: c.missing,
                    actual_missing: missing,
                })
            })
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.reference.to_bytes());
        for (counts, &missing) in self.counts.iter().zip(&self.missing) {
            w.u64s(counts);
            w.u64(missing);
        }
        w.finish(Kind::PsiAccumulator)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::PsiAccumulator)?;
        let reference = Arc::new(PsiReference::from_bytes(r.bytes()?)?);
        let mut acc = PsiAccumulator::new(reference);
        for j in 0..acc.counts.len() {
            let counts = r.u64s()?;
            if counts.len() != acc.counts[j].len() {
                return Err(Error::InvalidState(
                    "accumulator counts do not match the reference bins".into(),
                ));
            }
            let missing = r.u64()?;
            let column = &acc.reference.columns[j];
            if checked_total(&counts, missing).is_none() {
                return Err(Error::InvalidState(format!(
                    "accumulator column {:?}: the counts sum past 2**64",
                    column.name
                )));
            }
            if acc.reference.nan_policy == NanPolicy::Raise && missing > 0 {
                return Err(Error::InvalidState(format!(
                    "accumulator column {:?}: {missing} missing values under nan_policy 'raise'",
                    column.name
                )));
            }
            acc.totals[j] = checked_total(&counts, missing).unwrap_or(0);
            acc.counts[j] = counts;
            acc.missing[j] = missing;
        }
        r.finish()?;
        Ok(acc)
    }
}

fn add(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// Columns of a C-ordered matrix fitted `FIT_BLOCK` at a time: the block is transposed into a
/// scratch buffer reading rows in order (each row's 16 float32 values are one cache line), so
/// fitting reads the matrix about once instead of once per column, with 16 columns of scratch.
const FIT_BLOCK: usize = 16;

/// Copies columns `start..start + width` of the row-major `data` into `out` column after
/// column, in parallel over row ranges (each task writes its own range of every column).
fn transpose_block<T: Sample>(data: &[T], ncols: usize, start: usize, width: usize, out: &mut [T]) {
    use rayon::prelude::*;
    let nrows = data.len() / ncols;
    let rows_per_task = 1 << 14;
    let mut tasks: Vec<Vec<&mut [T]>> = (0..nrows.div_ceil(rows_per_task))
        .map(|_| Vec::with_capacity(width))
        .collect();
    for column in out.chunks_mut(nrows) {
        for (task, piece) in tasks.iter_mut().zip(column.chunks_mut(rows_per_task)) {
            task.push(piece);
        }
    }
    // Plain copying: no cancellation checkpoint, but the pool guard against fork.
    crate::parallel::in_pool(|_| {
        tasks
            .into_par_iter()
            .enumerate()
            .for_each(|(t, mut columns)| {
                let first_row = t * rows_per_task;
                let rows =
                    &data[first_row * ncols..((first_row + rows_per_task).min(nrows)) * ncols];
                for (r, row) in rows.chunks_exact(ncols).enumerate() {
                    for (column, &x) in columns.iter_mut().zip(&row[start..start + width]) {
                        column[r] = x;
                    }
                }
            })
    });
}

/// The rows of a C-ordered matrix of `len` values in `ncols` columns, or the error.
fn matrix_rows(ncols: usize, len: usize) -> Result<usize> {
    if ncols == 0 || !len.is_multiple_of(ncols) {
        return Err(Error::invalid(
            "table",
            "matrix shape does not match its columns",
        ));
    }
    if len == 0 {
        return Err(Error::invalid("table", "has no rows"));
    }
    Ok(len / ncols)
}

/// Fits every column of the C-ordered `data` (`names.len()` columns), as `fit_numeric` would
/// fit each column alone, bit for bit.
///
/// Quantile edges (up to 64 bins, up to `matrix_quantiles::MAX_COLUMNS` columns) come from
/// passes over the rows (`matrix_quantiles`): measured on 1e6 x 100 float32 (BENCHMARKS.md),
/// that is several times faster than transposing and holds no copy that grows with the rows.
/// Other binnings, and many bins or columns, transpose 16 columns at a time. Matrices of at
/// most `SMALL_ROWS` rows, whatever the binning, are fitted column by column.
pub fn fit_numeric_rows<T: crate::matrix_quantiles::RowSample>(
    names: &[String],
    data: &[T],
    bins: usize,
    binning: &crate::edges::Binning,
    nan_policy: NanPolicy,
) -> Result<Vec<ReferenceColumn>> {
    let ncols = names.len();
    let nrows = matrix_rows(ncols, data.len())?;
    if nrows <= SMALL_ROWS {
        return fit_small_rows(names, data, bins, binning, nan_policy);
    }
    let one_pass = matches!(binning, crate::edges::Binning::Quantile)
        && crate::select::takes_one_pass::<T>(nrows, bins.saturating_add(1));
    if ncols <= narrow_columns::<T>() && one_pass {
        if let Some(columns) = fit_narrow_rows(names, data, bins, binning, nan_policy)? {
            return Ok(columns);
        }
    }
    if matches!(binning, crate::edges::Binning::Quantile)
        && (2..crate::matrix_quantiles::MAX_QUANTILES).contains(&bins)
        && ncols <= crate::matrix_quantiles::MAX_COLUMNS
    {
        return fit_quantile_rows(names, data, bins, nan_policy);
    }
    fit_transposed(names, data, bins, binning, nan_policy)
}

/// Quantile edges of every column from row passes, and their counts (from the same passes, or
/// one counting pass over the rows for the columns whose edges that cannot place).
fn fit_quantile_rows<T: crate::matrix_quantiles::RowSample>(
    names: &[String],
    data: &[T],
    bins: usize,
    nan_policy: NanPolicy,
) -> Result<Vec<ReferenceColumn>> {
    let ncols = names.len();
    let q = crate::quantile::linspace_unit(bins);
    // The same checks, in the same order, as fit_numeric column after column.
    let fits = crate::matrix_quantiles::column_quantiles(data, ncols, &q, |j, finite, total| {
        nan_policy.check("expected", &names[j], total - finite)?;
        if finite == 0 {
            return Err(Error::invalid(
                "expected",
                format!(
                    "column {:?} has no finite values to fit bin edges on",
                    names[j]
                ),
            ));
        }
        Ok(())
    })
    .map_err(|e| e.naming("expected"))?;
    let edges: Vec<Vec<f64>> = fits
        .iter()
        .map(|f| crate::edges::interior_from_quantiles(&f.quantiles, bins))
        .collect();
    let mut counts: Vec<Option<(Vec<u64>, u64)>> = fits
        .iter()
        .zip(&edges)
        .map(|(f, e)| f.bin_counts::<T>(e))
        .collect();
    if counts.iter().any(Option::is_none) {
        // Only the columns left uncounted get thresholds; the others two sentinels.
        let thresholds: Vec<Vec<T>> = counts
            .iter()
            .zip(&edges)
            .map(|(c, e)| thresholds_for::<T>(if c.is_none() { e } else { &[] }))
            .collect();
        let counted = count_at_least_rows(data, ncols, &thresholds);
        for (c, a) in counts.iter_mut().zip(&counted) {
            if c.is_none() {
                *c = Some(
                    bins_from_at_least(&a.at_least, a.total).map_err(|e| e.naming("expected"))?,
                );
            }
        }
    }
    Ok(names
        .iter()
        .zip(edges)
        .zip(counts)
        .map(|((name, edges), c)| {
            let (counts, missing) = c.unwrap_or_default();
            ReferenceColumn {
                name: name.clone(),
                kind: ColumnKind::Numeric { edges },
                counts,
                missing,
            }
        })
        .collect())
}

/// C-ordered matrices of at most this many columns are fitted column by column
/// (`fit_narrow_rows`) when the one-pass fit of one column takes them (float32 quantile edges,
/// at least 2^19 rows): the row passes code and count 16 or 32 columns a vector, so with fewer
/// columns most lanes are padding. `Reference.fit` of normal float32, 2e7 values, 2 threads,
/// per-round ratio to the row passes in one process: 0.05 at 1 column (no copy), 0.28 at 2,
/// 0.42 at 3, 0.64 at 4, 1.09 at 5, 1.18 at 6, 1.90 at 8 (each column is copied, a read of the
/// whole matrix).
const NARROW_COLUMNS: usize = 4;

/// `NARROW_COLUMNS` for float32; float64 (the one-pass fit on AVX-512) only at 1 column, the
/// slice itself: 2e7 values, per-round ratio to the row passes 0.16 at 1 column, 0.98 at 2,
/// 1.50 at 3 and 1.84 at 4 (the row passes code float64 rows 8 columns a vector).
fn narrow_columns<T: 'static>() -> usize {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>() {
        1
    } else {
        NARROW_COLUMNS
    }
}

/// Each column of a narrow C-ordered matrix fitted on its own (`fit_numeric`), in column order
/// (the first error is the first column's, as in `fit_transposed`). One column is the slice
/// itself; otherwise one column at a time is copied (extra memory: one column, rows x 4 or 8
/// bytes). `None` when that copy would pass the memory ceiling: the row passes need none.
fn fit_narrow_rows<T: crate::matrix_quantiles::RowSample>(
    names: &[String],
    data: &[T],
    bins: usize,
    binning: &crate::edges::Binning,
    nan_policy: NanPolicy,
) -> Result<Option<Vec<ReferenceColumn>>> {
    let ncols = names.len();
    if ncols == 1 {
        let column = PsiReference::fit_numeric(&names[0], data, bins, binning, nan_policy)?;
        return Ok(Some(vec![column]));
    }
    let nrows = data.len() / ncols;
    let what = "a copy of one column of the table";
    if crate::alloc::check_bytes(what, crate::alloc::bytes_of::<T>(nrows as u128)).is_err() {
        return Ok(None);
    }
    let mut column: Vec<T> = Vec::new();
    if column.try_reserve_exact(nrows).is_err() {
        return Ok(None);
    }
    column.resize(nrows, T::from_f64(0.0));
    let mut fitted = Vec::with_capacity(ncols);
    for (j, name) in names.iter().enumerate() {
        crate::cancel::checkpoint();
        copy_column(data, ncols, j, &mut column);
        fitted.push(PsiReference::fit_numeric(
            name, &column, bins, binning, nan_policy,
        )?);
    }
    Ok(Some(fitted))
}

/// Column `j` of the row-major `data` into `column` (one value per row), in parallel parts of
/// rows: the copy reads every line of a narrow matrix, and one thread took longer than the fit.
fn copy_column<T: Sample>(data: &[T], ncols: usize, j: usize, column: &mut [T]) {
    use rayon::prelude::*;
    const ROWS: usize = 1 << 16;
    let copy = |(part, out): (usize, &mut [T])| {
        let rows = &data[part * ROWS * ncols..(part * ROWS + out.len()) * ncols];
        for (o, row) in out.iter_mut().zip(rows.chunks_exact(ncols)) {
            *o = row[j];
        }
    };
    crate::parallel::in_pool(|serial| {
        if serial {
            column.chunks_mut(ROWS).enumerate().for_each(copy);
        } else {
            column.par_chunks_mut(ROWS).enumerate().for_each(copy);
        }
    });
}

/// Matrices of at most this many rows are fitted column by column (`fit_small_rows`): the row
/// passes cost about 20 us a column whatever the rows (histograms of 1,024 buckets per column
/// and part, two searches per wanted bucket). `Reference.fit` of normal float32, per-round
/// ratio to the row passes in one process: 0.20-0.22 at 100 rows (20 and 200 columns), 0.42-0.62
/// at 1,000, 0.69-0.75 at 2,000, 0.87-1.13 at 4,000, 1.24-1.66 at 8,000.
const SMALL_ROWS: usize = 2048;

/// Each column gathered and fitted on its own (`fit_numeric`: the small-input path of the
/// quantiles), the columns in parallel; the first column's error in column order, as
/// `fit_transposed` gives it.
fn fit_small_rows<T: Sample>(
    names: &[String],
    data: &[T],
    bins: usize,
    binning: &crate::edges::Binning,
    nan_policy: NanPolicy,
) -> Result<Vec<ReferenceColumn>> {
    let ncols = names.len();
    crate::parallel::map_indexed(ncols, |j| {
        let column: Vec<T> = data.iter().skip(j).step_by(ncols).copied().collect();
        PsiReference::fit_numeric(&names[j], &column, bins, binning, nan_policy)
    })
    .into_iter()
    .collect()
}

/// The transposing fit (16 columns at a time), for the binnings the row passes do not cover;
/// public for `examples/fit_matrix_rows.rs`, which times it beside them.
pub fn fit_transposed<T: Sample>(
    names: &[String],
    data: &[T],
    bins: usize,
    binning: &crate::edges::Binning,
    nan_policy: NanPolicy,
) -> Result<Vec<ReferenceColumn>> {
    let ncols = names.len();
    let nrows = matrix_rows(ncols, data.len())?;
    let mut fitted = Vec::with_capacity(ncols);
    let mut scratch: Vec<T> = Vec::new();
    for start in (0..ncols).step_by(FIT_BLOCK) {
        let width = FIT_BLOCK.min(ncols - start);
        scratch.clear();
        scratch.resize(width * nrows, T::INFINITY);
        transpose_block(data, ncols, start, width, &mut scratch);
        for (c, column) in scratch.chunks_exact(nrows).enumerate() {
            fitted.push(PsiReference::fit_numeric(
                &names[start + c],
                column,
                bins,
                binning,
                nan_policy,
            )?);
        }
    }
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edges::Binning;

    fn reference() -> Arc<PsiReference> {
        let data: Vec<f64> = (0..1000).map(|i| i as f64 / 10.0).collect();
        let col =
            PsiReference::fit_numeric("x", &data, 10, &Binning::Quantile, NanPolicy::Bin).unwrap();
        Arc::new(PsiReference::new(vec![col], NanPolicy::Bin, 1e-4, 0.1, 0.25).unwrap())
    }

    #[test]
    fn matrix_fit_equals_column_fits() {
        let (nrows, ncols) = (40_003usize, 19usize);
        let data: Vec<f32> = (0..nrows * ncols)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.37 - (i % ncols) as f32)
            .collect();
        let names: Vec<String> = (0..ncols).map(|j| j.to_string()).collect();
        let fitted =
            fit_numeric_rows(&names, &data, 10, &Binning::Quantile, NanPolicy::Raise).unwrap();
        for j in 0..ncols {
            let column: Vec<f32> = data.iter().skip(j).step_by(ncols).copied().collect();
            let one = PsiReference::fit_numeric(
                &names[j],
                &column,
                10,
                &Binning::Quantile,
                NanPolicy::Raise,
            )
            .unwrap();
            assert_eq!(fitted[j], one, "column {j}");
        }
        assert!(
            fit_numeric_rows(&names, &data[..0], 10, &Binning::Quantile, NanPolicy::Raise).is_err()
        );
    }

    #[test]
    fn small_matrices_equal_column_fits_and_name_the_first_bad_column() {
        let ncols = 7usize;
        let names: Vec<String> = (0..ncols).map(|j| j.to_string()).collect();
        for nrows in [1usize, 2, 5, 100, SMALL_ROWS, SMALL_ROWS + 1] {
            let mut data: Vec<f32> = (0..nrows * ncols)
                .map(|i| match i % ncols {
                    0 => 2.5,
                    1 => ((i * 7919) % 13) as f32,
                    2 => -0.0,
                    _ => ((i * 7919) % 1013) as f32 * 0.37 - (i % ncols) as f32,
                })
                .collect();
            for binning in [Binning::Quantile, Binning::Uniform] {
                let fitted = fit_numeric_rows(&names, &data, 10, &binning, NanPolicy::Raise);
                let fitted = fitted.unwrap();
                for j in 0..ncols {
                    let column: Vec<f32> = data.iter().skip(j).step_by(ncols).copied().collect();
                    let one = PsiReference::fit_numeric(
                        &names[j],
                        &column,
                        10,
                        &binning,
                        NanPolicy::Raise,
                    )
                    .unwrap();
                    assert_eq!(fitted[j], one, "{nrows} rows, column {j}");
                }
            }
            // Missing values in columns 5 and 3: the error names column 3, as column by column.
            data[(nrows - 1) * ncols + 5] = f32::NAN;
            data[(nrows - 1) * ncols + 3] = f32::NAN;
            let err = fit_numeric_rows(&names, &data, 10, &Binning::Quantile, NanPolicy::Raise)
                .unwrap_err()
                .to_string();
            assert!(err.contains("\"3\""), "{nrows} rows: {err}");
        }
    }

    #[test]
    fn narrow_matrices_equal_the_row_passes_and_name_the_first_bad_column() {
        // 1 to 5 columns past the one-pass fit's minimum: 1 to 4 take the column fits (the
        // first without a copy), 5 the row passes; both give the row passes' bits.
        let nrows = (1usize << 19) + 3;
        for ncols in 1..=5usize {
            let names: Vec<String> = (0..ncols).map(|j| format!("c{j}")).collect();
            let mut data: Vec<f32> = (0..nrows * ncols)
                .map(|i| match i % ncols {
                    1 => ((i * 7919) % 13) as f32,
                    3 => -0.0,
                    j => ((i * 7919) % 100_003) as f32 * 0.37 - j as f32,
                })
                .collect();
            data[ncols * 11] = f32::NAN;
            for (nan_policy, bins) in [(NanPolicy::Omit, 10), (NanPolicy::Bin, 32)] {
                let fitted =
                    fit_numeric_rows(&names, &data, bins, &Binning::Quantile, nan_policy).unwrap();
                let rows = fit_quantile_rows(&names, &data, bins, nan_policy).unwrap();
                assert_eq!(fitted, rows, "{ncols} columns, {bins} bins");
            }
            // Missing values in the last column and the first: the error names the first.
            data[(nrows - 1) * ncols + ncols - 1] = f32::NAN;
            let err = fit_numeric_rows(&names, &data, 10, &Binning::Quantile, NanPolicy::Raise)
                .unwrap_err()
                .to_string();
            assert!(err.contains("\"c0\""), "{ncols} columns: {err}");
        }
    }

    #[test]
    fn split_merge_equals_one_pass_and_round_trips() {
        let r = reference();
        let mut current: Vec<f64> = (0..777).map(|i| (i as f64 * 0.37) % 120.0 - 5.0).collect();
        current[10] = f64::NAN;
        let mut whole = PsiAccumulator::new(r.clone());
        whole.update_numeric(0, &current).unwrap();
        let mut a = PsiAccumulator::new(r.clone());
        let mut b = PsiAccumulator::new(r.clone());
        a.update_numeric(0, &current[..300]).unwrap();
        b.update_numeric(0, &current[300..]).unwrap();
        let b = PsiAccumulator::from_bytes(&b.to_bytes()).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.finalize().unwrap(), whole.finalize().unwrap());
        assert_eq!(PsiReference::from_bytes(&r.to_bytes()).unwrap(), *r);
    }
}
