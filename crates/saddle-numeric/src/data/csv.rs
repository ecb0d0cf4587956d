//! A streaming CSV reader for uploads: a header row, then numeric cells split at commas.
//!
//! Fields may be quoted (`"a,b"`, with `""` for a quote inside); a quoted field cannot span
//! lines. Blank lines are skipped. Every error names the 1-based data row (the header is not
//! counted) and the column. Input is read through a byte limit, so an oversized upload is
//! refused after at most `max_bytes + 1` bytes, whatever its shape.

use std::io::{BufRead, Write};

use ndarray::Array2;

use super::{DataError, Dataset, LimitKind};

/// The largest upload the reader accepts; exceeding one is [`DataError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvLimits {
    /// Data rows (the header not counted).
    pub max_rows: usize,
    /// Columns of the header.
    pub max_columns: usize,
    /// Bytes of input, header included.
    pub max_bytes: u64,
}

impl Default for CsvLimits {
    /// 1 000 000 rows, 1 000 columns, 64 MiB.
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_columns: 1_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Reads a CSV with a header row into a [`Dataset`]; the columns named in `target_columns`
/// (in that order) become the targets, all others the features, in file order.
pub fn read_csv<R: BufRead>(
    reader: R,
    target_columns: &[&str],
    limits: &CsvLimits,
) -> Result<Dataset, DataError> {
    let mut input = reader.take(limits.max_bytes.saturating_add(1));
    let mut line = String::new();
    let mut cells: Vec<String> = Vec::new();
    let mut bytes: u64 = 0;
    let too_many_bytes = || DataError::TooLarge {
        limit: LimitKind::Bytes,
        max: limits.max_bytes,
    };

    // The header: the first non-blank line.
    let header = loop {
        line.clear();
        let got = read_line(&mut input, &mut line)?;
        bytes += got as u64;
        if bytes > limits.max_bytes {
            return Err(too_many_bytes());
        }
        if got == 0 {
            return Err(DataError::Empty("there is no header row".into()));
        }
        if !line.trim().is_empty() {
            split_fields(&line, &mut cells).map_err(DataError::BadHeader)?;
            break std::mem::take(&mut cells);
        }
    };
    if header.len() > limits.max_columns {
        return Err(DataError::TooLarge {
            limit: LimitKind::Columns,
            max: limits.max_columns as u64,
        });
    }
    for (j, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::BadHeader(format!(
                "column {} has an empty name",
                j + 1
            )));
        }
        if header[..j].contains(name) {
            return Err(DataError::BadHeader(format!(
                "column `{name}` appears twice"
            )));
        }
    }
    let mut target_index = Vec::with_capacity(target_columns.len());
    for &t in target_columns {
        match header.iter().position(|h| h == t) {
            Some(j) if target_index.contains(&j) => {
                return Err(DataError::BadHeader(format!(
                    "target column `{t}` is requested twice"
                )))
            }
            Some(j) => target_index.push(j),
            None => {
                return Err(DataError::UnknownTargetColumn {
                    column: t.to_string(),
                    available: header.join(", "),
                })
            }
        }
    }
    let feature_index: Vec<usize> = (0..header.len())
        .filter(|j| !target_index.contains(j))
        .collect();
    if feature_index.is_empty() {
        return Err(DataError::Empty(
            "every column is a target; at least one feature column is needed".into(),
        ));
    }

    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut row_values = vec![0.0; header.len()];
    let mut rows = 0usize;
    loop {
        line.clear();
        let got = read_line(&mut input, &mut line)?;
        bytes += got as u64;
        if bytes > limits.max_bytes {
            return Err(too_many_bytes());
        }
        if got == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        rows += 1;
        if rows > limits.max_rows {
            return Err(DataError::TooLarge {
                limit: LimitKind::Rows,
                max: limits.max_rows as u64,
            });
        }
        split_fields(&line, &mut cells)
            .map_err(|message| DataError::BadRow { row: rows, message })?;
        if cells.len() != header.len() {
            return Err(DataError::Ragged {
                row: rows,
                expected: header.len(),
                got: cells.len(),
            });
        }
        for (j, cell) in cells.iter().enumerate() {
            row_values[j] = parse_cell(cell, rows, &header[j])?;
        }
        xs.extend(feature_index.iter().map(|&j| row_values[j]));
        ys.extend(target_index.iter().map(|&j| row_values[j]));
    }
    if rows == 0 {
        return Err(DataError::Empty(
            "there are no data rows after the header".into(),
        ));
    }
    let features = Array2::from_shape_vec((rows, feature_index.len()), xs).expect("rows·d cells");
    let targets = Array2::from_shape_vec((rows, target_index.len()), ys).expect("rows·k cells");
    Dataset::with_names(
        features,
        targets,
        feature_index.iter().map(|&j| header[j].clone()).collect(),
        target_index.iter().map(|&j| header[j].clone()).collect(),
    )
}

/// Writes the dataset as CSV: a header of the feature then the target names, then one line
/// per row. Numbers use Rust's shortest round-trip form, so [`read_csv`] with the target
/// names gives back the same dataset bit for bit.
pub fn write_csv<W: Write>(data: &Dataset, mut out: W) -> std::io::Result<()> {
    let names: Vec<String> = data
        .feature_names()
        .iter()
        .chain(data.target_names())
        .map(|n| {
            if n.contains([',', '"']) || n.trim() != n {
                format!("\"{}\"", n.replace('"', "\"\""))
            } else {
                n.clone()
            }
        })
        .collect();
    writeln!(out, "{}", names.join(","))?;
    for (x, t) in data
        .features()
        .rows()
        .into_iter()
        .zip(data.targets().rows())
    {
        let mut first = true;
        for v in x.iter().chain(t.iter()) {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            write!(out, "{v:?}")?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads one line (with its terminator) and returns its length in bytes.
fn read_line<R: BufRead>(input: &mut R, line: &mut String) -> Result<usize, DataError> {
    input
        .read_line(line)
        .map_err(|e| DataError::Io(e.to_string()))
}

/// Parses one cell as a finite number, naming the row and column on failure.
fn parse_cell(cell: &str, row: usize, column: &str) -> Result<f64, DataError> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Err(DataError::EmptyCell {
            row,
            column: column.to_string(),
        });
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(DataError::NonFinite {
            row,
            column: column.to_string(),
            value: v,
        }),
        Err(_) => Err(DataError::NotNumeric {
            row,
            column: column.to_string(),
            cell: cell.chars().take(40).collect(),
        }),
    }
}

/// Splits one line into trimmed cells, unquoting `"..."` fields.
fn split_fields(line: &str, cells: &mut Vec<String>) -> Result<(), String> {
    let line = line.trim_end_matches(['\n', '\r']);
    cells.clear();
    let mut chars = line.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(' ' | '\t')) {
            chars.next();
        }
        let mut cell = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                    None => return Err("a quoted field is not closed on this line".into()),
                }
            }
            while matches!(chars.peek(), Some(' ' | '\t')) {
                chars.next();
            }
            match chars.next() {
                None => {
                    cells.push(cell);
                    return Ok(());
                }
                Some(',') => cells.push(cell),
                Some(c) => return Err(format!("unexpected `{c}` after a quoted field")),
            }
        } else {
            let mut last = true;
            for c in chars.by_ref() {
                if c == ',' {
                    last = false;
                    break;
                }
                cell.push(c);
            }
            cells.push(cell.trim_end().to_string());
            if last {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, targets: &[&str]) -> Result<Dataset, DataError> {
        read_csv(text.as_bytes(), targets, &CsvLimits::default())
    }

    #[test]
    fn a_csv_with_a_named_target_column_becomes_features_and_targets() {
        let data = read("a,label,b\n1,0,2\n3,1,4.5\n", &["label"]).unwrap();
        assert_eq!(data.feature_names(), &["a", "b"]);
        assert_eq!(data.target_names(), &["label"]);
        assert_eq!(data.features(), &ndarray::array![[1.0, 2.0], [3.0, 4.5]]);
        assert_eq!(data.targets(), &ndarray::array![[0.0], [1.0]]);
    }

    #[test]
    fn quoted_fields_crlf_and_blank_lines_are_accepted() {
        let data = read(
            "\"x, one\",\"y\"\r\n\r\n\" 1.5 \",2\r\n-3e2, 4\r\n\n",
            &["y"],
        )
        .unwrap();
        assert_eq!(data.feature_names(), &["x, one"]);
        assert_eq!(data.features().column(0).to_vec(), vec![1.5, -300.0]);
        assert_eq!(data.targets().column(0).to_vec(), vec![2.0, 4.0]);
    }

    #[test]
    fn a_non_numeric_cell_is_reported_with_row_and_column() {
        let err = read("a,b\n1,2\n3,abc\n", &["b"]).unwrap_err();
        assert_eq!(err.to_string(), "row 2, column `b`: `abc` is not a number");
    }

    #[test]
    fn an_empty_cell_is_reported_with_row_and_column() {
        let err = read("a,b\n1,2\n,4\n", &["b"]).unwrap_err();
        assert_eq!(
            err,
            DataError::EmptyCell {
                row: 2,
                column: "a".into()
            }
        );
        let trailing = read("a,b\n1,\n", &["b"]).unwrap_err();
        assert_eq!(
            trailing,
            DataError::EmptyCell {
                row: 1,
                column: "b".into()
            }
        );
    }

    #[test]
    fn nan_and_infinity_cells_are_rejected() {
        for cell in ["NaN", "inf", "-infinity"] {
            let err = read(&format!("a,b\n1,{cell}\n"), &["b"]).unwrap_err();
            assert!(
                matches!(err, DataError::NonFinite { row: 1, ref column, .. } if column == "b"),
                "{cell}: {err}"
            );
        }
    }

    #[test]
    fn a_ragged_row_is_rejected() {
        let err = read("a,b,c\n1,2,3\n4,5\n", &["c"]).unwrap_err();
        assert_eq!(
            err,
            DataError::Ragged {
                row: 2,
                expected: 3,
                got: 2
            }
        );
    }

    #[test]
    fn an_unknown_target_column_lists_the_header() {
        let err = read("a,b\n1,2\n", &["label"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown target column `label`; the header has: a, b"
        );
    }

    #[test]
    fn duplicate_and_empty_header_names_are_rejected() {
        assert!(matches!(
            read("a,a\n1,2\n", &[]),
            Err(DataError::BadHeader(_))
        ));
        assert!(matches!(
            read("a,,b\n1,2,3\n", &[]),
            Err(DataError::BadHeader(_))
        ));
    }

    #[test]
    fn limits_on_rows_columns_and_bytes_are_distinct_errors() {
        let limits = |max_rows, max_columns, max_bytes| CsvLimits {
            max_rows,
            max_columns,
            max_bytes,
        };
        let text = "a,b\n1,2\n3,4\n5,6\n";
        let rows = read_csv(text.as_bytes(), &["b"], &limits(2, 10, 1000)).unwrap_err();
        assert_eq!(
            rows,
            DataError::TooLarge {
                limit: LimitKind::Rows,
                max: 2
            }
        );
        let cols = read_csv(text.as_bytes(), &["b"], &limits(10, 1, 1000)).unwrap_err();
        assert_eq!(
            cols,
            DataError::TooLarge {
                limit: LimitKind::Columns,
                max: 1
            }
        );
        let bytes = read_csv(text.as_bytes(), &["b"], &limits(10, 10, 10)).unwrap_err();
        assert_eq!(
            bytes,
            DataError::TooLarge {
                limit: LimitKind::Bytes,
                max: 10
            }
        );
        assert!(read_csv(text.as_bytes(), &["b"], &limits(3, 2, text.len() as u64)).is_ok());
    }

    #[test]
    fn write_csv_then_read_csv_gives_back_the_same_dataset_bit_for_bit() {
        let data = Dataset::with_names(
            ndarray::array![[0.1 + 0.2, -1e-300], [std::f64::consts::PI, 12345678.9]],
            ndarray::array![[1.0], [0.0]],
            vec!["a, b".into(), "say \"hi\"".into()],
            vec!["label".into()],
        )
        .unwrap();
        let mut text = Vec::new();
        write_csv(&data, &mut text).unwrap();
        let back = read_csv(text.as_slice(), &["label"], &CsvLimits::default()).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_header_without_rows_is_empty() {
        assert!(matches!(read("a,b\n", &["b"]), Err(DataError::Empty(_))));
        assert!(matches!(read("", &["b"]), Err(DataError::Empty(_))));
    }
}
