//! Evenly thinned views of a step history, shared by `/steps?max_points=` and the plots.

use crate::error::ApiError;
use crate::store::{StepRow, Store};

/// At most `max_points` records with step > `after`, evenly spaced by rank, always with the
/// first and the latest (the whole range when it is short enough); with the number of records
/// it was chosen from.
pub(super) async fn thinned_steps(
    store: &Store,
    seq: i64,
    after: i64,
    max_points: i64,
    with_params: bool,
) -> Result<(Vec<StepRow>, i64), ApiError> {
    let total = store.count_steps(seq, after).await?;
    let rows = if total <= max_points {
        store
            .list_steps(seq, after, total.max(1), with_params)
            .await?
    } else {
        let ranks = even_ranks(total, max_points);
        store
            .list_steps_at_ranks(seq, after, &ranks, with_params)
            .await?
    };
    Ok((rows, total))
}

/// `count` ranks spread evenly over 0..total, always including 0 and total−1.
fn even_ranks(total: i64, count: i64) -> Vec<i64> {
    let span = (total - 1) as f64;
    let mut ranks: Vec<i64> = (0..count)
        .map(|j| ((j as f64) * span / ((count - 1) as f64)).round() as i64)
        .collect();
    ranks.dedup();
    ranks
}

#[cfg(test)]
mod tests {
    use super::even_ranks;

    #[test]
    fn even_ranks_keep_the_first_and_the_last_and_are_evenly_spaced() {
        assert_eq!(even_ranks(11, 3), vec![0, 5, 10]);
        let r = even_ranks(20_001, 100);
        assert_eq!(r.len(), 100);
        assert_eq!(r[0], 0);
        assert_eq!(*r.last().unwrap(), 20_000);
    }
}
