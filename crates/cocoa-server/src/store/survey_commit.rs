//! Group commit for survey answers: submissions that arrive while a transaction is committing
//! wait together, and the next transaction stores all of them with one commit (one fsync).
//! Each submission is answered only after the transaction holding it has committed, so an
//! acknowledged answer is as durable as one committed alone.
//!
//! Why: SQLite has one writer and `synchronous = FULL` pays an fsync per commit; one commit per
//! answer caps ingestion near the fsync rate. Batching keeps that guarantee and amortises the
//! fsync, and a slow fsync delays one batch instead of every answer queued behind it. It runs
//! the same on both backends (nothing here knows which one it is).

use super::{StoreError, SurveyStore};
use crate::survey::SurveyResponse;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Submissions stored by one transaction at most.
pub const MAX_SUBMISSIONS_PER_COMMIT: usize = 256;
/// Submissions waiting for a transaction at most; more wait to be queued.
const QUEUE: usize = 4096;

struct Job {
    responses: Vec<SurveyResponse>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Stores survey answers through one writer task that commits them in batches.
#[derive(Debug, Clone)]
pub struct SurveyWriter {
    jobs: mpsc::Sender<Job>,
}

impl SurveyWriter {
    /// Starts the writer task (on the current tokio runtime). It ends when the last clone of
    /// this writer is dropped.
    pub fn start<S: SurveyStore + ?Sized>(store: Arc<S>) -> Self {
        Self::with_metrics(store, None)
    }

    /// The same, counting answers stored and duplicated in `metrics`.
    pub fn with_metrics<S: SurveyStore + ?Sized>(
        store: Arc<S>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue, metrics));
        Self { jobs }
    }

    /// Stores `responses` (a retry's are skipped, as by `insert_survey_responses`); returns once
    /// their transaction has committed.
    pub async fn store(&self, responses: Vec<SurveyResponse>) -> Result<(), StoreError> {
        if responses.is_empty() {
            return Ok(());
        }
        let stopped = || StoreError::Unavailable("the survey writer has stopped".into());
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { responses, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<S: SurveyStore + ?Sized>(
    store: Arc<S>,
    mut queue: mpsc::Receiver<Job>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
) {
    let count = |stored: u64, sent: usize| {
        if let Some(m) = &metrics {
            m.survey_answers(stored, (sent as u64).saturating_sub(stored));
        }
    };
    let mut jobs = Vec::with_capacity(MAX_SUBMISSIONS_PER_COMMIT);
    while queue.recv_many(&mut jobs, MAX_SUBMISSIONS_PER_COMMIT).await > 0 {
        let sizes: Vec<usize> = jobs.iter().map(|j| j.responses.len()).collect();
        let batch: Vec<SurveyResponse> = jobs
            .iter_mut()
            .flat_map(|j| std::mem::take(&mut j.responses))
            .collect();
        // Nothing is logged here: a log line's timestamp would give the time answers arrived.
        match store.insert_survey_responses(&batch).await {
            Ok(stored) => {
                count(stored, batch.len());
                for job in jobs.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // Alone, a submission's failure is its own.
            Err(e) if jobs.len() == 1 => {
                let _ = jobs.remove(0).done.send(Err(e));
            }
            // Together, one bad submission must not fail the others: store each alone.
            Err(_) => {
                let mut rest = batch.as_slice();
                for (job, size) in jobs.drain(..).zip(sizes) {
                    let (own, tail) = rest.split_at(size);
                    rest = tail;
                    let result = store.insert_survey_responses(own).await;
                    if let Ok(stored) = &result {
                        count(*stored, own.len());
                    }
                    let _ = job.done.send(result.map(drop));
                }
            }
        }
    }
}
