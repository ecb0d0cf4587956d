//! Reading columns the same way from either backend's rows.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::StoreError;

/// Typed column access shared by SQLite and PostgreSQL rows, so each table's row mapping is
/// written once.
pub(crate) trait Fields {
    /// A TEXT column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable TEXT column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A nullable floating-point column.
    fn opt_real(&self, column: &str) -> Result<Option<f64>, StoreError>;
    /// A nullable BLOB / BYTEA column.
    fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A BLOB / BYTEA column.
    fn blob(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.opt_blob(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }
}

macro_rules! impl_fields {
    ($row:ty) => {
        impl Fields for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_real(&self, column: &str) -> Result<Option<f64>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

impl_fields!(SqliteRow);
impl_fields!(PgRow);
