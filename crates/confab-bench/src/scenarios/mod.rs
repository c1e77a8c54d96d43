//! The scenarios. Each takes its parameters (also its CLI arguments) and
//! returns a report that renders as a table and serializes to JSON.

pub mod connect;
pub mod fanout;
pub mod history;
pub mod post;
pub mod search;

use std::collections::BTreeMap;

/// Counts by key (status code, error code, close code), sorted for output.
pub type Tally = BTreeMap<String, u64>;

pub(crate) fn tally_line(tally: &Tally) -> String {
    if tally.is_empty() {
        return "none".into();
    }
    tally
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn merge(into: &mut Tally, from: Tally) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::bench::{Bench, User};
use crate::client::Api;
use crate::rate;
use crate::report::{Counters, Latency, Progress, SharedHistogram};

/// How one request went.
pub(crate) enum Outcome {
    /// Success, with how many items (messages) it carried.
    Ok(u64),
    /// An HTTP status other than success.
    Status(u16),
    /// No response: connection error or timeout.
    Transport,
}

/// One REST request as `user`: `request` gets the current token; a 401 (the
/// token expired during a long run) logs in again and retries once. Any other
/// failure becomes the [`Outcome`] to count.
pub(crate) async fn as_user<T, F, Fut>(api: &Api, user: &User, mut request: F) -> Result<T, Outcome>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = anyhow::Result<(StatusCode, Option<T>)>>,
{
    for attempt in 0..2 {
        match request(user.token()).await {
            Ok((_, Some(value))) => return Ok(value),
            Ok((status, None)) if status == StatusCode::UNAUTHORIZED && attempt == 0 => {
                if user.relogin(api).await.is_err() {
                    break;
                }
            }
            Ok((status, None)) => return Err(Outcome::Status(status.as_u16())),
            Err(_) => return Err(Outcome::Transport),
        }
    }
    Err(Outcome::Status(StatusCode::UNAUTHORIZED.as_u16()))
}

/// A REST client of the `post` and `history` scenarios: one request per call.
pub(crate) trait Worker: Send + 'static {
    fn call(&mut self) -> impl Future<Output = Outcome> + Send;
}

/// Totals of a [`drive`] run, over requests intended in the measured window.
pub(crate) struct Driven {
    pub ok: u64,
    pub items: u64,
    pub latency: Latency,
    pub errors: Tally,
    pub secs: f64,
}

/// Runs each worker in its own task for `warmup + duration` seconds.
/// Closed loop (the next request when the last answered) without `rate`;
/// with it, an open-loop schedule per worker, latency counted from each
/// request's intended start.
pub(crate) async fn drive<W: Worker>(
    bench: &Bench,
    label: &'static str,
    workers: Vec<W>,
    rate: Option<f64>,
    warmup: f64,
    duration: f64,
) -> anyhow::Result<Driven> {
    anyhow::ensure!(
        !workers.is_empty() && duration > 0.0,
        "need clients and a positive duration"
    );
    let epoch = bench.epoch;
    let start = epoch.elapsed() + Duration::from_millis(50);
    let warmup = Duration::from_secs_f64(warmup.max(0.0));
    let measured = Duration::from_secs_f64(duration);
    let (from, end) = (start + warmup, start + warmup + measured);
    let schedules = match rate {
        Some(rate) => rate::split(rate, workers.len(), start, warmup + measured)
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None; workers.len()],
    };
    let latency = SharedHistogram::new(workers.len().min(64));
    let counters = Arc::new(Counters::default());
    let _progress = bench
        .progress
        .then(|| Progress::start(label, ["requests", "ok", "items", "errors"], counters.clone()));
    let mut tasks = Vec::new();
    for (w, (mut worker, schedule)) in workers.into_iter().zip(schedules).enumerate() {
        let latency = latency.clone();
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut items, mut errors) = (0u64, 0u64, Tally::new());
            rate::wait_until(epoch, start).await;
            for n in 0.. {
                let intended = match &schedule {
                    Some(s) => match s.intended(n) {
                        Some(at) => {
                            rate::wait_until(epoch, at).await;
                            at
                        }
                        None => break,
                    },
                    None => epoch.elapsed(),
                };
                if intended >= end {
                    break;
                }
                Counters::add(&counters.sent, 1);
                let outcome = worker.call().await;
                let measuring = intended >= from;
                match outcome {
                    Outcome::Ok(n_items) => {
                        Counters::add(&counters.acked, 1);
                        Counters::add(&counters.delivered, n_items);
                        if measuring {
                            ok += 1;
                            items += n_items;
                            let took = epoch.elapsed().saturating_sub(intended);
                            latency.record_batch(w, &[took.as_micros() as u64]);
                        }
                    }
                    Outcome::Status(code) => {
                        Counters::add(&counters.errors, 1);
                        *errors.entry(code.to_string()).or_default() += 1;
                    }
                    Outcome::Transport => {
                        Counters::add(&counters.errors, 1);
                        *errors.entry("transport".into()).or_default() += 1;
                    }
                }
            }
            (ok, items, errors)
        }));
    }
    let (mut ok, mut items, mut errors) = (0, 0, Tally::new());
    for task in tasks {
        let (o, i, e) = task.await?;
        ok += o;
        items += i;
        merge(&mut errors, e);
    }
    Ok(Driven {
        ok,
        items,
        latency: Latency::from_histogram(&latency.merged()),
        errors,
        secs: measured.as_secs_f64(),
    })
}
