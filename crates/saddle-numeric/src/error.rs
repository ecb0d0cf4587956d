//! Validation errors of configurations: each names the offending field and says how to fix it.

/// A configuration value that cannot be used, with the field's path (e.g. `optimizer.lr`)
/// and a message that says what is valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidConfig {
    /// Dotted path of the field, relative to the request body (`optimizer.betas[0]`).
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
    /// For errors located in a text field (an expression): the 1-based column.
    pub column: Option<usize>,
    /// For located errors: the text (or a window of it) and a caret line under `column`.
    pub excerpt: Option<String>,
}

impl InvalidConfig {
    /// Builds an error for `field` with a human-readable `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            column: None,
            excerpt: None,
        }
    }

    /// Locates the error at a 1-based column of the field's text, with its caret excerpt.
    pub fn at_column(mut self, column: Option<usize>, excerpt: Option<String>) -> Self {
        self.column = column;
        self.excerpt = excerpt;
        self
    }
}

/// Checks `lo <= value` (and finiteness), torch's "Invalid learning rate" family of checks.
pub fn check_min(field: &str, value: f64, lo: f64) -> Result<(), InvalidConfig> {
    if value.is_finite() && value >= lo {
        Ok(())
    } else {
        Err(InvalidConfig::new(
            field,
            format!("must be a finite number >= {lo}, got {value}"),
        ))
    }
}

/// Checks `lo <= value < hi`, as torch checks betas and similar coefficients.
pub fn check_half_open(field: &str, value: f64, lo: f64, hi: f64) -> Result<(), InvalidConfig> {
    if value.is_finite() && value >= lo && value < hi {
        Ok(())
    } else {
        Err(InvalidConfig::new(
            field,
            format!("must be in [{lo}, {hi}), got {value}"),
        ))
    }
}
