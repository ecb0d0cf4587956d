//! `GET /v1/jobs/{id}/events`: a job's steps, status changes and result as Server-Sent Events,
//! resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::jobs::{find_job, JobResponse};
use super::steps::Fields;
use super::{ApiQuery, AppState};
use crate::error::{ApiError, Problem};
use crate::store::{JobStatus, StepRow};
use crate::tenant::Tenant;

/// Thinning and fields of the event stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Send only steps that are multiples of `every` (and always the last one).
    #[param(minimum = 1)]
    pub every: Option<i64>,
    /// Send at most this many step events per second (the latest record at each tick, and
    /// always the last one).
    #[param(exclusive_minimum = 0)]
    pub max_hz: Option<f64>,
    /// Comma-separated step fields besides `step` (as for /steps; default: all).
    #[param(
        pattern = "^ *(step|loss|grad_norm|lr|momentum|evaluations|epoch|metrics|params)? *(, *(step|loss|grad_norm|lr|momentum|evaluations|epoch|metrics|params)? *)*$"
    )]
    pub fields: Option<String>,
}

/// One event of the stream, as OpenAPI before 3.2 describes a `text/event-stream`: each
/// event, not the stream.
#[derive(utoipa::ToSchema)]
#[schema(example = json!({"event": "step", "id": "0",
                          "data": "{\"step\":0,\"loss\":12.5,\"grad_norm\":162.86,\"lr\":0.05,\"evaluations\":1}"}))]
#[allow(dead_code)] // documents the wire format written by the handler
pub struct ServerSentEvent {
    /// `status`, `step` or `end`.
    #[schema(pattern = "^(status|step|end)$")]
    event: String,
    /// The event's JSON: `{"status": …}`, a step record, or the job at its end.
    data: String,
    /// For `step` events: the step, to send back as `Last-Event-ID` when reconnecting.
    id: Option<String>,
}

/// The longest interval `max_hz` can ask for between step events (a day).
const MAX_EVENT_INTERVAL: Duration = Duration::from_secs(86_400);

/// Rows read per database round trip while catching up.
const CHUNK: i64 = 2000;
/// The longest the stream waits for new history before looking again.
const POLL: Duration = Duration::from_millis(250);

struct Cursor {
    state: AppState,
    tenant: Tenant,
    job_id: String,
    seq: i64,
    fields: Fields,
    /// The last step sent (or skipped by `every`).
    after: i64,
    last_sent: i64,
    every: u64,
    min_interval: Option<Duration>,
    last_sent_at: Option<Instant>,
    /// A record held back by `max_hz`, sent before the end.
    held: Option<StepRow>,
    status: Option<JobStatus>,
    queue: VecDeque<Event>,
    done: bool,
}

fn step_event(fields: &Fields, row: StepRow) -> Event {
    let id = row.step.to_string();
    let data = serde_json::to_string(&fields.view(row)).expect("a step serializes");
    Event::default().event("step").id(id).data(data)
}

impl Cursor {
    /// Reads what is new and queues its events; returns false when the stream has ended.
    async fn poll(&mut self) -> Result<(), ApiError> {
        let job = self.state.store.get_job(&self.tenant, &self.job_id).await?;
        if self.status != Some(job.status) {
            self.status = Some(job.status);
            self.queue.push_back(
                Event::default()
                    .event("status")
                    .data(format!("{{\"status\":\"{}\"}}", job.status.as_str())),
            );
        }
        let rows = self
            .state
            .store
            .list_steps(self.seq, self.after, CHUNK, self.fields.params)
            .await?;
        let caught_up = (rows.len() as i64) < CHUNK;
        for row in rows {
            self.after = row.step;
            if !(row.step as u64).is_multiple_of(self.every) {
                self.held = Some(row);
                continue;
            }
            let due = match (self.min_interval, self.last_sent_at) {
                (Some(interval), Some(at)) => at.elapsed() >= interval,
                _ => true,
            };
            if due {
                self.last_sent_at = Some(Instant::now());
                self.last_sent = row.step;
                self.held = None;
                self.queue.push_back(step_event(&self.fields, row));
            } else {
                self.held = Some(row);
            }
        }
        if caught_up && job.status.is_finished() {
            // The history is complete: flush the held last record, then the result.
            if let Some(row) = self.held.take() {
                if row.step > self.last_sent {
                    self.queue.push_back(step_event(&self.fields, row));
                }
            }
            let body = JobResponse::try_from(job)?;
            let data = serde_json::to_string(&body).expect("a job serializes");
            self.queue
                .push_back(Event::default().event("end").data(data));
            self.done = true;
        }
        Ok(())
    }
}

fn events(cursor: Cursor) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.queue.pop_front() {
                return Some((Ok(event), c));
            }
            if c.done {
                return None;
            }
            if let Err(e) = c.poll().await {
                tracing::error!(error = %e, "event stream failed");
                c.done = true;
                c.queue.push_back(
                    Event::default()
                        .event("error")
                        .data("{\"detail\":\"the stream failed; reconnect with Last-Event-ID\"}"),
                );
                continue;
            }
            if c.queue.is_empty() && !c.done {
                c.state.runner.wait_for_history(POLL).await;
            }
        }
    })
}

/// Stream a job's progress as Server-Sent Events.
///
/// Events: `status` (`{"status": …}`, at the start and on every change), `step` (a step record
/// as in /steps, with the step number as the event id), and a final `end` with the whole job
/// (result included), after which the stream closes. A finished job replays its history and
/// closes. Reconnect with `Last-Event-ID: <step>` to resume after that step.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "The job's id"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = -1, description = "Resume after this step"),
        EventsQuery
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = ServerSentEvent,
         example = "event: status\ndata: {\"status\":\"running\"}\n\nevent: step\nid: 0\ndata: {\"step\":0,\"loss\":12.5,\"grad_norm\":162.86,\"lr\":0.05,\"evaluations\":1,\"params\":[-1.5,2.0]}\n\n"),
        (status = 400, description = "A parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "max_hz: must be a positive number of events per second, got 0",
                          "errors": [{"field": "max_hz", "message": "must be a positive number of events per second, got 0"}]})),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"}))
    )
)]
pub async fn stream_events(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = find_job(&state, &tenant, &id).await?;
    let fields = Fields::parse(query.fields.as_deref(), job.problem_kind == "model")?;
    let every = match query.every.unwrap_or(1) {
        every @ 1.. => every as u64,
        _ => return Err(ApiError::bad_parameter("every", "must be at least 1")),
    };
    let min_interval = match query.max_hz {
        None => None,
        // A rate so low that its interval overflows sends only the last step.
        Some(hz) if hz.is_finite() && hz > 0.0 => Some(
            Duration::try_from_secs_f64(1.0 / hz)
                .unwrap_or(MAX_EVENT_INTERVAL)
                .min(MAX_EVENT_INTERVAL),
        ),
        Some(hz) => {
            return Err(ApiError::bad_parameter(
                "max_hz",
                format!("must be a positive number of events per second, got {hz}"),
            ))
        }
    };
    let after = match headers.get("last-event-id") {
        None => -1,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|s| *s >= -1)
            .ok_or_else(|| {
                ApiError::bad_parameter(
                    "Last-Event-ID",
                    "must be the step number of the last event received",
                )
            })?,
    };
    let cursor = Cursor {
        tenant,
        job_id: job.job_id.clone(),
        seq: job.seq,
        state,
        fields,
        after,
        last_sent: after,
        every,
        min_interval,
        last_sent_at: None,
        held: None,
        status: None,
        queue: VecDeque::new(),
        done: false,
    };
    Ok(Sse::new(events(cursor)).keep_alive(KeepAlive::default()))
}
