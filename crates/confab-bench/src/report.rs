//! Output: latency histograms, the human table on stdout, the JSON file and
//! the progress line on stderr.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to one hour (larger
/// values saturate), with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Histograms shared by many tasks: each task records into a local buffer
/// and flushes it into one of a few shards, so neither memory (one histogram
/// per socket would be ~100 KiB each) nor lock contention grows with sockets.
pub struct SharedHistogram {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl SharedHistogram {
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(new_histogram())).collect(),
        })
    }

    /// Records a batch of microsecond values into shard `hint % shards`.
    pub fn record_batch(&self, hint: usize, values: &[u64]) {
        let mut shard = self.shards[hint % self.shards.len()].lock().unwrap();
        for &v in values {
            shard.saturating_record(v.max(1));
        }
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            all.add(&*shard.lock().unwrap()).expect("same bounds");
        }
        all
    }
}

/// Percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    pub fn line(&self) -> String {
        if self.count == 0 {
            return "-".into();
        }
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms  (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

/// A two-column table for the terminal.
#[derive(Default)]
pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, key: impl Into<String>, value: impl ToString) -> &mut Self {
        self.rows.push((key.into(), value.to_string()));
        self
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "== {} ==", self.title);
        for (k, v) in &self.rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        out
    }
}

/// Writes `{"scenario", "parameters", "results"}` to `path`.
pub fn write_json(
    path: &Path,
    scenario: &str,
    parameters: &impl Serialize,
    results: &impl Serialize,
) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "scenario": scenario,
        "parameters": parameters,
        "results": results,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Counters the progress line reads; workers add to them in batches.
#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Prints a line to stderr about once a second until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// `names` label the four counters (sent, acked, delivered, errors) for this scenario.
    pub fn start(label: &'static str, names: [&'static str; 4], counters: Arc<Counters>) -> Self {
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = [0u64; 4];
            loop {
                tick.tick().await;
                let now = [
                    counters.sent.load(Ordering::Relaxed),
                    counters.acked.load(Ordering::Relaxed),
                    counters.delivered.load(Ordering::Relaxed),
                    counters.errors.load(Ordering::Relaxed),
                ];
                let mut line = format!("[{label} {:>4}s]", started.elapsed().as_secs());
                for (i, name) in names.iter().enumerate() {
                    if !name.is_empty() {
                        let _ = write!(line, "  {name} {} (+{}/s)", now[i], now[i] - last[i]);
                    }
                }
                eprintln!("{line}");
                last = now;
            }
        });
        Self { task }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let shared = SharedHistogram::new(3);
        let values: Vec<u64> = (1..=1000).map(|ms| ms * 1000).collect();
        shared.record_batch(0, &values[..500]);
        shared.record_batch(7, &values[500..]);
        let latency = Latency::from_histogram(&shared.merged());
        assert_eq!(latency.count, 1000);
        assert!((latency.p50_ms - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99_ms - 990.0).abs() < 1.0, "{latency:?}");
        assert!((latency.max_ms - 1000.0).abs() < 1.0, "{latency:?}");
    }
}
