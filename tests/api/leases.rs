//! Leases on running jobs, at the store: claims, heartbeats, fencing and expiry, on both
//! backends (the PostgreSQL target runs this file against a real server).

use std::time::Duration;

use saddle::store::{Holder, JobEnding, JobStatus, NewJob, StepBatch, Store, StoreError};
use saddle::tenant::Tenant;

use crate::helpers::TestDatabase;

/// A worker, whose claims hold the leases (see `Holder::claim`).
fn worker(name: &str, lease: Duration) -> Holder {
    Holder {
        worker: name.into(),
        lease,
    }
}

async fn queue_jobs(store: &Store, n: usize) -> Vec<String> {
    let tenant = Tenant::default();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("job-{i}");
        store
            .insert_job(NewJob {
                job_id: &id,
                tenant: &tenant,
                max_active_jobs: 10_000,
                name: None,
                tags: &[],
                spec: "{}",
                problem_kind: "builtin",
                optimizer_name: "sgd",
                max_steps: 100,
                dataset_id: None,
                continued_from: None,
                resume_state: None,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Records `steps` of one job, as a run's recorder would.
fn batch(steps: std::ops::Range<i64>) -> StepBatch {
    let mut batch = StepBatch::with_capacity((steps.end - steps.start) as usize, 0);
    for step in steps {
        batch.steps.push(step);
        batch.loss.push(1.0 / (step + 1) as f64);
        batch.grad_norm.push(0.5);
        batch.lr.push(0.1);
        batch.momentum.push(None);
        batch.evaluations.push(step + 1);
        batch.epoch.push(None);
        batch.metrics.push(None);
    }
    batch
}

fn ending(step: i64) -> JobEnding<'static> {
    JobEnding {
        status: JobStatus::Succeeded,
        stop_reason: Some("max_steps"),
        progress_step: step,
        result: Some("{}"),
        error: None,
        final_state: None,
    }
}

#[tokio::test]
async fn only_the_holder_of_a_lease_writes_and_finishes_its_job() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    queue_jobs(&store, 1).await;
    let worker_a = worker("worker-a", Duration::from_secs(60));
    let a = worker_a.claim(1);
    let b = worker("worker-b", Duration::from_secs(60)).claim(1);
    let job = store
        .claim_next_job(&a)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(job.status, JobStatus::Running);
    assert!(
        store.claim_next_job(&b).await.unwrap().is_none(),
        "claimed twice"
    );

    store
        .insert_steps(job.seq, &a, &batch(0..10))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_steps(job.seq, &b, &batch(10..20)).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.finish_job(job.seq, &b, &ending(9)).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(store.count_steps(job.seq, -1).await.unwrap(), 10);
    store.finish_job(job.seq, &a, &ending(9)).await.unwrap();
    // Finished: not even the holder writes any more, and the end is recorded once.
    assert!(matches!(
        store.finish_job(job.seq, &a, &ending(9)).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(store.renew_leases(&worker_a).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_heartbeat_renews_leases_and_carries_cancels_to_the_worker() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    let ids = queue_jobs(&store, 2).await;
    let a = worker("worker-a", Duration::from_secs(60));
    let first = store.claim_next_job(&a.claim(1)).await.unwrap().unwrap();
    let second = store.claim_next_job(&a.claim(2)).await.unwrap().unwrap();
    let renewed = store.renew_leases(&a).await.unwrap();
    assert_eq!(renewed.len(), 2);
    assert!(renewed.iter().all(|lease| !lease.cancel_requested));
    // Each lease is renewed under the claim that holds it.
    let owner_of = |seq: i64| renewed.iter().find(|l| l.seq == seq).unwrap().owner.clone();
    assert_eq!(owner_of(first.seq), a.claim(1).worker);
    assert_eq!(owner_of(second.seq), a.claim(2).worker);

    store
        .request_cancel(&Tenant::default(), &ids[1])
        .await
        .unwrap();
    let renewed = store.renew_leases(&a).await.unwrap();
    let cancelled: Vec<i64> = renewed
        .iter()
        .filter(|lease| lease.cancel_requested)
        .map(|lease| lease.seq)
        .collect();
    assert_eq!(cancelled, vec![second.seq]);
    assert!(renewed.iter().any(|lease| lease.seq == first.seq));
}

#[tokio::test]
async fn an_expired_lease_requeues_the_job_from_its_checkpoint_and_fences_out_its_old_worker() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    queue_jobs(&store, 2).await;
    let dying_worker = worker("worker-dying", Duration::from_millis(300));
    let dying = dying_worker.claim(1);
    let alive = worker("worker-alive", Duration::from_secs(60)).claim(1);
    let lost = store.claim_next_job(&dying).await.unwrap().unwrap();
    let kept = store.claim_next_job(&alive).await.unwrap().unwrap();
    store
        .insert_steps_with_checkpoint(lost.seq, &dying, &batch(0..50), Some((40, "{}")))
        .await
        .unwrap();
    store
        .insert_steps(kept.seq, &alive, &batch(0..50))
        .await
        .unwrap();

    // Before the lease runs out nothing is recovered, on any backend.
    let early = store.recover_interrupted_jobs(3, false).await.unwrap();
    assert_eq!(early.resumed + early.restarted + early.failed, 0);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let recovery = store.recover_interrupted_jobs(3, false).await.unwrap();
    assert_eq!(
        (recovery.resumed, recovery.restarted, recovery.failed),
        (1, 0, 0)
    );
    // The records from the checkpoint's step on are gone (the resumed run makes them again);
    // the other worker's job is untouched.
    assert_eq!(store.count_steps(lost.seq, -1).await.unwrap(), 40);
    assert_eq!(store.count_steps(kept.seq, -1).await.unwrap(), 50);

    // The old worker wakes up: nothing it writes is kept.
    assert!(matches!(
        store.insert_steps(lost.seq, &dying, &batch(50..60)).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.finish_job(lost.seq, &dying, &ending(59)).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(store.renew_leases(&dying_worker).await.unwrap().is_empty());

    // Claimed again — even by the same worker, a new claim — it is written by that claim only.
    let again = dying_worker.claim(2);
    let taken = store.claim_next_job(&again).await.unwrap().unwrap();
    assert_eq!(taken.seq, lost.seq);
    let (_, checkpoint) = store.run_state(taken.seq).await.unwrap();
    assert_eq!(checkpoint.as_deref(), Some("{}"));
    assert!(matches!(
        store.insert_steps(taken.seq, &dying, &batch(40..50)).await,
        Err(StoreError::LeaseLost)
    ));
    store
        .insert_steps(taken.seq, &again, &batch(40..100))
        .await
        .unwrap();
    store
        .finish_job(taken.seq, &again, &ending(99))
        .await
        .unwrap();
    assert_eq!(store.count_steps(taken.seq, -1).await.unwrap(), 100);
}

#[tokio::test]
async fn workers_claiming_at_once_take_every_job_exactly_once() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    queue_jobs(&store, 60).await;
    let mut claimers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let me = worker(&format!("worker-{w}"), Duration::from_secs(60));
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_next_job(&me.claim(mine.len() as u64))
                .await
                .unwrap()
            {
                mine.push(job.seq);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    claimed.sort_unstable();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!(before, 60, "claims: {before}");
    assert_eq!(claimed.len(), 60, "a job was claimed twice");
}

#[tokio::test]
async fn the_api_and_worker_roles_are_refused_on_sqlite_with_the_way_out() {
    let db = TestDatabase::create_on(saddle::store::Backend::Sqlite).await;
    for role in [saddle::config::Role::Api, saddle::config::Role::Worker] {
        let mut config = crate::helpers::test_config(db.url());
        config.role = role;
        let refused = saddle::startup::Application::build(config).await;
        let message = match refused {
            Err(e) => e.to_string(),
            Ok(_) => panic!("--role {role:?} started on SQLite"),
        };
        assert!(
            message.contains("--role all") && message.contains("postgres://"),
            "{message}"
        );
    }
}
