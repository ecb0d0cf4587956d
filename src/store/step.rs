//! The `step` table: step histories, written in batches and read by keyset.

use sqlx::{PgConnection, QueryBuilder, SqliteConnection};

use saddle_numeric::model::Metrics;
use saddle_numeric::StepRecord;

use super::rows::Fields;
use super::{on_pool, on_tx, Holder, Store, StoreError, Tx};

/// Rows per multi-row INSERT (SQLite): 1000 rows × 13 columns stays well under SQLite's limit
/// of 32 766 bound variables.
const ROWS_PER_INSERT: usize = 1000;
const STEP_COLUMNS: &str = "step, loss, grad_norm, lr, momentum, evaluations, epoch, \
     train_loss, train_accuracy, val_loss, val_accuracy";

/// A batch of step records of one job, columnar so that filling it allocates nothing per step.
#[derive(Debug, Clone, Default)]
pub struct StepBatch {
    /// Step numbers k.
    pub steps: Vec<i64>,
    /// f(x_k).
    pub loss: Vec<f64>,
    /// ‖∇f(x_k)‖₂.
    pub grad_norm: Vec<f64>,
    /// lr of the update from x_k.
    pub lr: Vec<f64>,
    /// Momentum / β1 when a schedule cycles it.
    pub momentum: Vec<Option<f64>>,
    /// Cumulative objective evaluations at each record.
    pub evaluations: Vec<i64>,
    /// The epoch of each record's batch (model problems).
    pub epoch: Vec<Option<i64>>,
    /// Evaluation metrics, on the records that have them (model problems).
    pub metrics: Vec<Option<Metrics>>,
    /// x_k of every row, concatenated as little-endian f64 bytes; empty when params are not
    /// recorded.
    pub params: Vec<u8>,
    /// The number of parameters per row (0 when params are not recorded).
    pub dim: usize,
}

impl StepBatch {
    /// An empty batch with room for `rows` rows of `dim` params (dim 0: no params).
    pub fn with_capacity(rows: usize, dim: usize) -> Self {
        Self {
            steps: Vec::with_capacity(rows),
            loss: Vec::with_capacity(rows),
            grad_norm: Vec::with_capacity(rows),
            lr: Vec::with_capacity(rows),
            momentum: Vec::with_capacity(rows),
            evaluations: Vec::with_capacity(rows),
            epoch: Vec::with_capacity(rows),
            metrics: Vec::with_capacity(rows),
            params: Vec::with_capacity(rows * dim * 8),
            dim,
        }
    }

    /// Appends one record; `params` is ignored when the batch records none.
    pub fn push(&mut self, record: &StepRecord<'_>) {
        self.steps.push(record.step as i64);
        self.loss.push(record.loss);
        self.grad_norm.push(record.grad_norm);
        self.lr.push(record.lr);
        self.momentum.push(record.momentum);
        self.evaluations.push(record.evaluations as i64);
        self.epoch.push(record.epoch.map(|e| e as i64));
        self.metrics.push(record.metrics);
        let params = record.params;
        if self.dim > 0 {
            for p in params {
                self.params.extend_from_slice(&p.to_le_bytes());
            }
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The last step number, if any.
    pub fn last_step(&self) -> Option<i64> {
        self.steps.last().copied()
    }

    fn params_of(&self, row: usize) -> Option<&[u8]> {
        (self.dim > 0).then(|| &self.params[row * self.dim * 8..(row + 1) * self.dim * 8])
    }

    /// Row `i` as stored: NaN as NULL, metrics spread over their columns.
    fn stored(&self, i: usize) -> StoredStep<'_> {
        let m = self.metrics[i];
        StoredStep {
            step: self.steps[i],
            loss: nan_to_null(self.loss[i]),
            grad_norm: nan_to_null(self.grad_norm[i]),
            lr: nan_to_null(self.lr[i]),
            momentum: self.momentum[i].and_then(nan_to_null),
            evaluations: self.evaluations[i],
            epoch: self.epoch[i],
            train_loss: m.map(|m| m.train_loss).and_then(nan_to_null),
            train_accuracy: m.and_then(|m| m.train_accuracy),
            val_loss: m.and_then(|m| m.val_loss).and_then(nan_to_null),
            val_accuracy: m.and_then(|m| m.val_accuracy),
            params: self.params_of(i),
        }
    }
}

/// The columns of one `step` row after `job_seq`, in [`STEP_INSERT`]'s order.
struct StoredStep<'a> {
    step: i64,
    loss: Option<f64>,
    grad_norm: Option<f64>,
    lr: Option<f64>,
    momentum: Option<f64>,
    evaluations: i64,
    epoch: Option<i64>,
    train_loss: Option<f64>,
    train_accuracy: Option<f64>,
    val_loss: Option<f64>,
    val_accuracy: Option<f64>,
    params: Option<&'a [u8]>,
}

/// The `step` table's columns as history writes fill them.
const STEP_INSERT: &str = "step (job_seq, step, loss, grad_norm, lr, momentum, evaluations, \
     epoch, train_loss, train_accuracy, val_loss, val_accuracy, params)";

/// SQLite: the batch as 1000-row multi-row INSERTs.
async fn insert_rows(
    connection: &mut SqliteConnection,
    seq: i64,
    batch: &StepBatch,
) -> Result<(), StoreError> {
    let mut start = 0;
    while start < batch.len() {
        let end = (start + ROWS_PER_INSERT).min(batch.len());
        let mut insert = QueryBuilder::new(format!("INSERT INTO {STEP_INSERT} "));
        insert.push_values(start..end, |mut row, i| {
            let r = batch.stored(i);
            row.push_bind(seq)
                .push_bind(r.step)
                .push_bind(r.loss)
                .push_bind(r.grad_norm)
                .push_bind(r.lr)
                .push_bind(r.momentum)
                .push_bind(r.evaluations)
                .push_bind(r.epoch)
                .push_bind(r.train_loss)
                .push_bind(r.train_accuracy)
                .push_bind(r.val_loss)
                .push_bind(r.val_accuracy)
                .push_bind(r.params);
        });
        insert.build().execute(&mut *connection).await?;
        start = end;
    }
    Ok(())
}

/// PostgreSQL: the batch in one `COPY … FROM STDIN (FORMAT binary)`, which the server takes
/// without parsing a statement or binding 13 parameters per row.
async fn copy_rows(
    connection: &mut PgConnection,
    seq: i64,
    batch: &StepBatch,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut copy = connection
        .copy_in_raw(&format!("COPY {STEP_INSERT} FROM STDIN (FORMAT binary)"))
        .await?;
    copy.send(binary_copy(seq, batch)).await?;
    copy.finish().await?;
    Ok(())
}

/// The batch in PostgreSQL's binary COPY format: a signature and two zero words, then per row
/// the field count and each field as its byte length (−1: NULL) and big-endian value, then −1.
fn binary_copy(seq: i64, batch: &StepBatch) -> Vec<u8> {
    const FIELDS: i16 = 13;
    let mut out = Vec::with_capacity(19 + batch.len() * (2 + 13 * 12 + batch.dim * 8) + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let int = |out: &mut Vec<u8>, v: Option<i64>| match v {
        Some(v) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    };
    let real = |out: &mut Vec<u8>, v: Option<f64>| match v {
        Some(v) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    };
    for i in 0..batch.len() {
        let r = batch.stored(i);
        out.extend_from_slice(&FIELDS.to_be_bytes());
        int(&mut out, Some(seq));
        int(&mut out, Some(r.step));
        real(&mut out, r.loss);
        real(&mut out, r.grad_norm);
        real(&mut out, r.lr);
        real(&mut out, r.momentum);
        int(&mut out, Some(r.evaluations));
        int(&mut out, r.epoch);
        real(&mut out, r.train_loss);
        real(&mut out, r.train_accuracy);
        real(&mut out, r.val_loss);
        real(&mut out, r.val_accuracy);
        match r.params {
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// One stored step record, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    /// k.
    pub step: i64,
    /// f(x_k); NaN is stored as NULL and read back as NaN.
    pub loss: f64,
    /// ‖∇f(x_k)‖₂.
    pub grad_norm: f64,
    /// The lr of the update from x_k.
    pub lr: f64,
    /// Momentum / β1 when cycled.
    pub momentum: Option<f64>,
    /// Cumulative objective evaluations at this record.
    pub evaluations: i64,
    /// The epoch of the record's batch (model problems).
    pub epoch: Option<i64>,
    /// Evaluation metrics, when taken at this record (model problems).
    pub metrics: Option<Metrics>,
    /// x_k, when recorded and asked for.
    pub params: Option<Vec<f64>>,
}

/// SQLite cannot store NaN (it turns it into NULL); make that explicit both ways.
fn nan_to_null(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn step_from_row(row: &impl Fields) -> Result<StepRow, StoreError> {
    let params = row.opt_blob("params")?;
    let params = params
        .map(|bytes| {
            if bytes.len() % 8 != 0 {
                return Err(StoreError::Corrupt("params blob length".into()));
            }
            Ok(bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect())
        })
        .transpose()?;
    let real =
        |name: &str| -> Result<f64, StoreError> { Ok(row.opt_real(name)?.unwrap_or(f64::NAN)) };
    Ok(StepRow {
        step: row.int("step")?,
        loss: real("loss")?,
        grad_norm: real("grad_norm")?,
        lr: real("lr")?,
        momentum: row.opt_real("momentum")?,
        evaluations: row.int("evaluations")?,
        epoch: row.opt_int("epoch")?,
        metrics: match row.opt_real("train_loss")? {
            None => None,
            Some(train_loss) => Some(Metrics {
                train_loss,
                train_accuracy: row.opt_real("train_accuracy")?,
                val_loss: row.opt_real("val_loss")?,
                val_accuracy: row.opt_real("val_accuracy")?,
            }),
        },
        params,
    })
}

impl Store {
    /// Stores a batch of records of job `seq` and moves the job's progress to its last step,
    /// in one transaction (multi-row INSERTs on SQLite, a binary COPY on PostgreSQL) — if `holder` still holds the job
    /// ([`StoreError::LeaseLost`] if not, and nothing is written).
    pub async fn insert_steps(
        &self,
        seq: i64,
        holder: &Holder,
        batch: &StepBatch,
    ) -> Result<(), StoreError> {
        self.insert_steps_with_checkpoint(seq, holder, batch, None)
            .await
    }

    /// Stores a batch of records like [`Store::insert_steps`] and, in the same transaction,
    /// the job's latest checkpoint `(step, JSON)`: the checkpoint never runs ahead of the
    /// stored history.
    pub async fn insert_steps_with_checkpoint(
        &self,
        seq: i64,
        holder: &Holder,
        batch: &StepBatch,
        checkpoint: Option<(u64, &str)>,
    ) -> Result<(), StoreError> {
        if batch.is_empty() && checkpoint.is_none() {
            return Ok(());
        }
        // SQLite has one writer at a time anyway: queue for it here, in order.
        let _turn = match self.backend {
            super::Backend::Sqlite => Some(self.history_gate.lock().await),
            super::Backend::Postgres => None,
        };
        let mut tx = self.begin_write(None).await?;
        // The lease first: its row lock fences out a worker that lost the job.
        self.hold_lease(&mut tx, seq, holder).await?;
        match &mut tx {
            Tx::Sqlite(t) => insert_rows(t, seq, batch).await?,
            Tx::Postgres(t) => copy_rows(t, seq, batch).await?,
        }
        if let Some(last) = batch.last_step() {
            on_tx!(tx, c => sqlx::query("UPDATE job SET progress_step = $1 WHERE job_seq = $2")
                .bind(last)
                .bind(seq)
                .execute(c)
                .await?.rows_affected());
        }
        if let Some((step, state)) = checkpoint {
            on_tx!(tx, c => sqlx::query(
                "UPDATE job SET checkpoint = $1, checkpoint_step = $2 WHERE job_seq = $3",
            )
            .bind(state)
            .bind(step as i64)
            .bind(seq)
            .execute(c)
            .await?.rows_affected());
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reads up to `limit` records of job `seq` with step > `after_step`, in step order.
    pub async fn list_steps(
        &self,
        seq: i64,
        after_step: i64,
        limit: i64,
        with_params: bool,
    ) -> Result<Vec<StepRow>, StoreError> {
        let params = if with_params {
            "params"
        } else {
            // PostgreSQL's NULL has no type of its own: it gets BYTEA's.
            self.backend
                .pick("NULL AS params", "CAST(NULL AS bytea) AS params")
        };
        let sql = format!(
            "SELECT {STEP_COLUMNS}, {params} FROM step \
             WHERE job_seq = $1 AND step > $2 ORDER BY step LIMIT $3"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(seq)
        .bind(after_step)
        .bind(limit)
        .fetch_all(p)
        .await?
        .iter()
        .map(step_from_row)
        .collect())
    }

    /// The number of records of job `seq` with step > `after_step`.
    pub async fn count_steps(&self, seq: i64, after_step: i64) -> Result<i64, StoreError> {
        Ok(on_pool!(self, p =>
            sqlx::query_scalar("SELECT COUNT(*) FROM step WHERE job_seq = $1 AND step > $2")
                .bind(seq)
                .bind(after_step)
                .fetch_one(p)
                .await?))
    }

    /// Reads the records at the given ranks (0-based positions in step order among the records
    /// with step > `after_step`): an evenly thinned view of a long history.
    pub async fn list_steps_at_ranks(
        &self,
        seq: i64,
        after_step: i64,
        ranks: &[i64],
        with_params: bool,
    ) -> Result<Vec<StepRow>, StoreError> {
        let params = if with_params {
            "params"
        } else {
            // PostgreSQL's NULL has no type of its own: it gets BYTEA's.
            self.backend
                .pick("NULL AS params", "CAST(NULL AS bytea) AS params")
        };
        let ranks = serde_json::to_string(ranks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rank_list = self.backend.pick(
            "SELECT value FROM json_each($3)",
            "SELECT value::bigint FROM jsonb_array_elements_text($3::jsonb) AS r(value)",
        );
        let sql = format!(
            "WITH ranked AS ( \
               SELECT {STEP_COLUMNS}, params, \
                      ROW_NUMBER() OVER (ORDER BY step) - 1 AS rank \
               FROM step WHERE job_seq = $1 AND step > $2) \
             SELECT {STEP_COLUMNS}, {params} FROM ranked \
             WHERE rank IN ({rank_list}) ORDER BY step"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(seq)
        .bind(after_step)
        .bind(&ranks)
        .fetch_all(p)
        .await?
        .iter()
        .map(step_from_row)
        .collect())
    }
}
