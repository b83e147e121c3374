//! Running a kernel off the calling thread, so that the caller can wait in steps (the Python
//! binding runs the interpreter's signal handlers between them, for Ctrl-C).
//!
//! The kernel runs on a thread of the pool its parallel parts use. From any other thread each
//! parallel part is injected into the pool and its end signalled back across threads (the
//! caller sleeps and is woken once per part); on a pool thread the parts start and end inside
//! the pool. Measured in one process against a kernel on a fresh scoped thread (the way before,
//! `benches/compare_fit_inprocess.py` and per-call timings, 2 threads): the one-column fit took
//! 0.88x the time at 1e4 values, 0.91x at 1e6 and 0.96x at 1e7.
//!
//! With a one-thread pool the kernel runs on a scoped thread of its own instead: on the pool's
//! single worker, calls from two Python threads (which release the GIL) would queue.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::parallel::{single_threaded, this_process_pool};

/// Tells the waiting thread whether the kernel has finished.
pub struct Waiter {
    done: Mutex<bool>,
    finished: Condvar,
}

impl Waiter {
    /// Waits at most `timeout` for the kernel; true once it has finished.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .finished
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    fn wait_for_end(&self) {
        let guard = self.done.lock().unwrap_or_else(|e| e.into_inner());
        drop(
            self.finished
                .wait_while(guard, |done| !*done)
                .unwrap_or_else(|e| e.into_inner()),
        );
    }

    fn finish(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.finished.notify_all();
    }
}

/// The work's result and its end, shared by the job and the waiting thread.
struct Shared<R> {
    result: Mutex<Option<std::thread::Result<R>>>,
    waiter: Waiter,
}

/// Waits for the kernel when dropped: the kernel borrows from the caller's frame, which must
/// outlive it however `detached` is left.
struct Ended<'a>(&'a Waiter);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.wait_for_end();
    }
}

/// Runs `work` off this thread while this thread runs `wait` (which may return before the work
/// has finished: `detached` then waits for it), and returns both results. A panic of `work` is
/// resumed here.
pub fn detached<R: Send, W>(
    work: impl FnOnce() -> R + Send,
    wait: impl FnOnce(&Waiter) -> W,
) -> (R, W) {
    // Shared, not borrowed: the job still unlocks and notifies after the waiting thread may
    // have seen the end (and left this frame).
    let shared = Arc::new(Shared {
        result: Mutex::new(None),
        waiter: Waiter {
            done: Mutex::new(false),
            finished: Condvar::new(),
        },
    });
    let waiter = &shared.waiter;
    let job = {
        let shared = shared.clone();
        move || {
            let r = catch_unwind(AssertUnwindSafe(work));
            *shared.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            shared.waiter.finish();
        }
    };
    let waited = match this_process_pool() {
        Ok(()) if !single_threaded() => on_pool(job, waiter, wait, rayon::spawn),
        Err(Some(pool)) if pool.current_num_threads() > 1 => {
            on_pool(job, waiter, wait, |job| pool.spawn(job))
        }
        _ => {
            let job = Mutex::new(Some(job));
            let run = || {
                if let Some(job) = job.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    job();
                }
            };
            std::thread::scope(|scope| {
                if std::thread::Builder::new()
                    .spawn_scoped(scope, run)
                    .is_err()
                {
                    // No thread to be had: the work runs here, before `wait`.
                    run();
                }
                wait(waiter)
            })
        }
    };
    // Every way above has waited for the job's end (`on_pool`, the scope's join, or the job
    // run here).
    let result = shared
        .result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match result {
        Some(Ok(r)) => (r, waited),
        Some(Err(panic)) => resume_unwind(panic),
        None => unreachable!("the work has finished"),
    }
}

/// Hands `job` to a pool (`spawn`) and runs `wait`; returns only once the job has ended.
fn on_pool<'a, W>(
    job: impl FnOnce() + Send + 'a,
    waiter: &'a Waiter,
    wait: impl FnOnce(&Waiter) -> W,
    spawn: impl FnOnce(Box<dyn FnOnce() + Send + 'static>),
) -> W {
    let job: Box<dyn FnOnce() + Send + 'a> = Box::new(job);
    // SAFETY: only the lifetime changes. The job borrows from the caller's frame ('a) through
    // the work it runs, which it has consumed before it signals its end. Once `spawn` has
    // queued it, `ended` waits for that end before this function returns or unwinds (the job
    // always ends: it catches its own panic, then signals `waiter`); a `spawn` that panics has
    // not queued it (rayon's queues the job last). So the borrows outlive their use.
    let job: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(job) };
    spawn(job);
    // From here the job will end: a panic of `wait` waits for it before unwinding further.
    let ended = Ended(waiter);
    let waited = wait(waiter);
    drop(ended);
    waited
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_work_borrows_the_frame_and_its_result_comes_back() {
        let data: Vec<u64> = (0..100_000).collect();
        let polls = AtomicUsize::new(0);
        let (sum, waited) = detached(
            || {
                crate::parallel::map_indexed(10, |i| {
                    data[i * 10_000..(i + 1) * 10_000].iter().sum::<u64>()
                })
            },
            |w| {
                while !w.wait(Duration::from_millis(1)) {
                    polls.fetch_add(1, Ordering::Relaxed);
                }
                "waited"
            },
        );
        assert_eq!(sum.iter().sum::<u64>(), 100_000 * 99_999 / 2);
        assert_eq!(waited, "waited");
    }

    #[test]
    fn a_wait_that_returns_early_still_waits_for_the_work() {
        let cell = Mutex::new(0u32);
        let (r, ()) = detached(
            || {
                std::thread::sleep(Duration::from_millis(50));
                *cell.lock().unwrap() += 1;
                7
            },
            |_| (),
        );
        assert_eq!((r, *cell.lock().unwrap()), (7, 1));
    }

    #[test]
    fn a_panic_of_the_work_is_resumed_on_the_caller() {
        let got = catch_unwind(|| {
            detached(
                || -> u32 { panic!("boom") },
                |w| while !w.wait(Duration::from_millis(1)) {},
            )
        });
        let payload = got.expect_err("the panic comes back");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }

    #[test]
    fn the_work_runs_on_a_pool_thread() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (index, ()) = pool.install(|| detached(rayon::current_thread_index, |_| ()));
        assert!(index.is_some());
    }

    #[test]
    fn a_one_thread_pool_runs_the_work_on_a_thread_of_its_own() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let caller = std::thread::current().id();
        let (ran_on, ()) = pool.install(|| detached(|| std::thread::current().id(), |_| ()));
        assert_ne!(ran_on, caller);
    }
}
