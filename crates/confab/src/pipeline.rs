//! Group commit: jobs that arrive while a transaction is in flight are
//! written together by the next one.
//!
//! A [`Pipeline`] has a fixed number of *lanes*, each a task with a bounded
//! queue. A job goes to the lane its key hashes to (the room id for posts),
//! so one key's jobs are written in the order they were submitted, by one
//! task, one batch after another. A lane takes whatever is waiting (up to
//! `max_batch`), hands the lot to its [`BatchWriter`], and once the writer
//! returns (after the commit) goes through the jobs in order: it publishes
//! each job's effects, then answers it. A submitter that routes its answers
//! into the same stream as the effects (a socket's queue) therefore sees
//! them in the order it submitted its jobs.
//!
//! Lanes know nothing of what they write: the writer (the chat domain's
//! poster) decides what a batch means, and what a failure inside one means.
//! A submitted job runs to the end even if its submitter goes away, so a
//! client hanging up can never leave a committed message unpublished.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

/// Writes batches of jobs.
pub trait BatchWriter: Send + Sync + 'static {
    type Job: Send + 'static;
    type Output: Send + 'static;
    /// What a job causes beyond its answer (events), published just before it.
    type Effects: Send + 'static;

    /// Writes `jobs`; returns each job's output and effects, in job order.
    fn write(&self, jobs: Vec<Self::Job>) -> impl Future<Output = Vec<(Self::Output, Self::Effects)>> + Send;

    /// Publishes one job's effects, then runs `answer` (which hands the job
    /// its output) once they are on their way to this node's sockets.
    fn publish(&self, effects: Self::Effects, answer: Box<dyn FnOnce() + Send>);
}

/// Receives a job's output, on the lane's task: it must not block.
pub type Reply<O> = Box<dyn FnOnce(O) + Send>;

/// Sizes of a pipeline, from [`crate::config::Config`].
#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    /// Lanes (writer tasks). A key always goes to the same lane.
    pub lanes: usize,
    /// Most jobs written in one batch.
    pub max_batch: usize,
    /// Jobs that may wait in one lane's queue; beyond, submitters wait.
    pub queue: usize,
}

/// Why a job got no output.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The lane is gone (the server is stopping) or the writer panicked.
    #[error("the write pipeline stopped")]
    Stopped,
}

type Entry<W> = (<W as BatchWriter>::Job, Reply<<W as BatchWriter>::Output>);

/// A handle to the lanes; cheap to clone.
pub struct Pipeline<W: BatchWriter> {
    lanes: Arc<[mpsc::Sender<Entry<W>>]>,
}

impl<W: BatchWriter> Clone for Pipeline<W> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
        }
    }
}

impl<W: BatchWriter> Pipeline<W> {
    /// Spawns the lanes on the current runtime.
    pub fn start(writer: W, options: PipelineOptions) -> Self {
        let writer = Arc::new(writer);
        let max_batch = options.max_batch.max(1);
        let lanes: Vec<_> = (0..options.lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(options.queue.max(1));
                tokio::spawn(run_lane(writer.clone(), rx, max_batch));
                tx
            })
            .collect();
        Self { lanes: lanes.into() }
    }

    /// Queues `job` on `key`'s lane and waits for its output.
    pub async fn submit(&self, key: i64, job: W::Job) -> Result<W::Output, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(
            key,
            job,
            Box::new(move |output| {
                // The submitter may have gone away; the job is done regardless.
                let _ = reply.send(output);
            }),
        )
        .await?;
        answer.await.map_err(|_| PipelineError::Stopped)
    }

    /// Queues `job` on `key`'s lane (waiting while the lane's queue is full);
    /// `reply` gets its output after the commit, right after the job's own
    /// effects are published and before those of later jobs.
    /// A job that never gets an output (the writer panicked) drops `reply`.
    pub async fn enqueue(&self, key: i64, job: W::Job, reply: Reply<W::Output>) -> Result<(), PipelineError> {
        let lane = &self.lanes[key.rem_euclid(self.lanes.len() as i64) as usize];
        lane.send((job, reply)).await.map_err(|_| PipelineError::Stopped)
    }
}

async fn run_lane<W: BatchWriter>(writer: Arc<W>, mut queue: mpsc::Receiver<Entry<W>>, max_batch: usize) {
    let batch_size = metrics::histogram!("pipeline_batch_size");
    let mut jobs = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    while let Some((job, reply)) = queue.recv().await {
        jobs.push(job);
        replies.push(reply);
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok((job, reply)) => {
                    jobs.push(job);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        batch_size.record(jobs.len() as f64);
        // On its own task, so a panic in the writer fails this batch (its
        // submitters see `Stopped`) instead of ending the lane.
        let batch = std::mem::take(&mut jobs);
        let writing = writer.clone();
        match tokio::spawn(async move { writing.write(batch).await }).await {
            Ok(written) => {
                for (reply, (output, effects)) in replies.drain(..).zip(written) {
                    writer.publish(effects, Box::new(move || reply(output)));
                }
            }
            Err(error) => {
                tracing::error!(%error, "a batch writer panicked");
                replies.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Records each batch; answers each job with its value doubled, slowly,
    /// so later jobs pile up behind the first.
    #[derive(Default)]
    struct Doubler {
        batches: Mutex<Vec<Vec<i64>>>,
        /// Answers and publications, in the order they happened.
        log: Arc<Mutex<Vec<String>>>,
    }

    impl BatchWriter for Arc<Doubler> {
        type Job = i64;
        type Output = i64;
        type Effects = (i64, Arc<Mutex<Vec<String>>>);

        async fn write(&self, jobs: Vec<i64>) -> Vec<(i64, Self::Effects)> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if jobs.contains(&-1) {
                panic!("the writer failed");
            }
            self.batches.lock().unwrap().push(jobs.clone());
            jobs.into_iter().map(|j| (j * 2, (j, self.log.clone()))).collect()
        }

        fn publish(&self, (job, log): Self::Effects, answer: Box<dyn FnOnce() + Send>) {
            log.lock().unwrap().push(format!("published {job}"));
            answer();
        }
    }

    fn options(lanes: usize) -> PipelineOptions {
        PipelineOptions {
            lanes,
            max_batch: 8,
            queue: 64,
        }
    }

    #[tokio::test]
    async fn jobs_waiting_together_are_written_together_and_answered_each() {
        let writer = Arc::new(Doubler::default());
        let pipeline = Pipeline::start(writer.clone(), options(1));
        let answers: Vec<_> = (1..=20)
            .map(|n| {
                let pipeline = pipeline.clone();
                tokio::spawn(async move { pipeline.submit(0, n).await.unwrap() })
            })
            .collect();
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.await.unwrap(), (n as i64 + 1) * 2);
        }
        let batches = writer.batches.lock().unwrap().clone();
        assert!(batches.len() < 20, "some jobs shared a batch: {batches:?}");
        assert!(batches.iter().all(|b| b.len() <= 8), "batches are bounded: {batches:?}");
        let order: Vec<i64> = batches.concat();
        assert_eq!(order, (1..=20).collect::<Vec<_>>(), "one key's jobs keep their order");
    }

    #[tokio::test]
    async fn each_job_is_published_then_answered_in_job_order() {
        let writer = Arc::new(Doubler::default());
        let pipeline = Pipeline::start(writer.clone(), options(1));
        for n in 1..=3 {
            let log = writer.log.clone();
            let reply = Box::new(move |output: i64| log.lock().unwrap().push(format!("answer {output}")));
            pipeline.enqueue(7, n, reply).await.unwrap();
        }
        assert_eq!(pipeline.submit(7, 4).await.unwrap(), 8);
        let log = writer.log.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "published 1",
                "answer 2",
                "published 2",
                "answer 4",
                "published 3",
                "answer 6",
                "published 4"
            ]
        );
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_jobs_and_the_lane_goes_on() {
        let writer = Arc::new(Doubler::default());
        let pipeline = Pipeline::start(writer, options(2));
        assert!(matches!(pipeline.submit(1, -1).await, Err(PipelineError::Stopped)));
        assert_eq!(pipeline.submit(1, 5).await.unwrap(), 10);
        assert_eq!(
            pipeline.submit(-3, 4).await.unwrap(),
            8,
            "negative keys have a lane too"
        );
    }
}
