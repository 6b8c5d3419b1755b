//! What a pull tells whoever watches it: steps in words, and bytes of the file in place.
//! The CLI draws the bytes as a bar; the admin stream and plain logs get a line per tenth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One thing a pull reports.
#[derive(Debug, Clone, Copy)]
pub enum PullEvent<'a> {
    /// A step, in words ("downloading X (N bytes) from the hub", "the hub route failed ...").
    Step(&'a str),
    /// Bytes of the current file in place, resumed ones included, out of its size.
    Bytes { done: u64, total: u64 },
}

/// Where a pull's events go.
pub type EventSink = Arc<dyn Fn(PullEvent<'_>) + Send + Sync>;

/// Where progress lines go (`hearth serve` and the desktop app log them).
pub type ProgressSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A tenth of a download reached, with how fast it goes.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// 10, 20, ... 100.
    pub percent: u64,
    /// Bytes in place.
    pub done: u64,
    /// The file's size.
    pub total: u64,
    /// Bytes per second since this watcher first saw the download (resumed bytes excluded).
    pub bytes_per_s: Option<f64>,
    /// Time left at that rate.
    pub eta: Option<Duration>,
}

/// Turns byte counts into one [`Tick`] per tenth of the file.
pub struct Tenths {
    start: Option<(Instant, u64)>,
    shown: u64,
}

impl Tenths {
    /// A watcher that has seen nothing yet.
    pub fn new() -> Self {
        Tenths {
            start: None,
            shown: 0,
        }
    }

    /// The tick for this count, when it reaches a tenth not shown before.
    pub fn at(&mut self, done: u64, total: u64) -> Option<Tick> {
        let (since, from) = *self.start.get_or_insert((Instant::now(), done));
        let tenth = done.saturating_mul(10) / total.max(1);
        if tenth <= self.shown {
            return None;
        }
        self.shown = tenth;
        let secs = since.elapsed().as_secs_f64();
        let rate = (secs > 0.0 && done > from).then(|| (done - from) as f64 / secs);
        Some(Tick {
            percent: tenth * 10,
            done,
            total,
            bytes_per_s: rate,
            eta: rate.map(|r| Duration::from_secs_f64(total.saturating_sub(done) as f64 / r)),
        })
    }
}

impl Default for Tenths {
    fn default() -> Self {
        Self::new()
    }
}

/// An event sink that reports through `tick` and `step`; a new file starts a new count.
pub fn tenths(
    step: impl Fn(&str) + Send + Sync + 'static,
    tick: impl Fn(Tick) + Send + Sync + 'static,
) -> EventSink {
    let state = Mutex::new(Tenths::new());
    Arc::new(move |event| match event {
        PullEvent::Step(line) => {
            *state.lock() = Tenths::new();
            step(line);
        }
        PullEvent::Bytes { done, total } => {
            if let Some(t) = state.lock().at(done, total) {
                tick(t);
            }
        }
    })
}

/// Progress lines only: the steps, and "NN%" per tenth (the form the UI reads).
pub fn lines(sink: ProgressSink) -> EventSink {
    let steps = sink.clone();
    tenths(move |l| steps(l), move |t| sink(&format!("{}%", t.percent)))
}

/// "12.3 MB/s, 40 s left", or nothing before a rate is known.
pub fn rate_and_eta(t: &Tick) -> String {
    match (t.bytes_per_s, t.eta) {
        (Some(r), Some(eta)) => format!("{:.1} MB/s, {} s left", r / 1e6, eta.as_secs()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenth_is_reported_once_and_a_resumed_start_counts_from_where_it_was() {
        let mut t = Tenths::new();
        let first = t.at(500, 1000).unwrap();
        assert_eq!(first.percent, 50);
        assert!(first.bytes_per_s.is_none(), "no bytes seen move yet");
        assert!(t.at(520, 1000).is_none());
        assert_eq!(t.at(1000, 1000).unwrap().percent, 100);
        assert!(t.at(1000, 1000).is_none());
    }

    #[test]
    fn lines_are_the_steps_and_bare_percentages() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let into = seen.clone();
        let sink = lines(Arc::new(move |l: &str| into.lock().push(l.to_owned())));
        sink(PullEvent::Step("downloading m.gguf"));
        for done in (0..=100).step_by(5) {
            sink(PullEvent::Bytes { done, total: 100 });
        }
        let seen = seen.lock();
        assert_eq!(seen[0], "downloading m.gguf");
        assert_eq!(
            seen[1..],
            ["10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "100%"]
        );
    }
}
