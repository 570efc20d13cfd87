//! Bounded parallelism on scoped threads, for the build's artifacts and verify's aws CLI calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f` over `items` on at most `jobs` threads (at least one); results in input order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(n) else { break };
                let r = f(item);
                results.lock().expect("no panics")[n] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no panics")
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_keep_the_input_order_and_jobs_bound_the_threads() {
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items: Vec<u64> = (0..12).collect();
        let out = parallel(&items, 3, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // Later items finish first: order must come from the input, not completion.
            std::thread::sleep(Duration::from_millis(12 - i));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        assert_eq!(out, (0..12).map(|i| i * 10).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(parallel(&[] as &[u8], 0, |_| 1), Vec::<i32>::new());
        assert_eq!(parallel(&[1], 0, |x| x + 1), [2]);
    }
}
