//! Cooperative cancellation (Ctrl-C) of long kernels.
//!
//! The binding runs a kernel through `run` with a flag it sets when Python has a pending signal.
//! The work-splitting helpers of `parallel` carry the flag to every task they start and call
//! `checkpoint` before each; a set flag unwinds the kernel with the private `Cancelled` payload
//! (`resume_unwind`: no panic hook, no message), which `run` turns into `Error::Cancelled`.
//! Unwinding instead of a `Result` per task keeps the many infallible kernels (counting,
//! quantiles) unchanged; rayon carries the unwind across its threads. Kernels stop between
//! blocks, so an interrupted `update` may have added part of its batch.

use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

pub type Token = Option<Arc<AtomicBool>>;

struct Cancelled;

thread_local! {
    static TOKEN: RefCell<Token> = const { RefCell::new(None) };
}

/// The flag of the kernel running on this thread, to hand to tasks on other threads.
pub fn token() -> Token {
    TOKEN.with(|t| t.borrow().clone())
}

/// Runs `f` with `token` as this thread's flag (restored afterwards, also on unwind).
pub fn with_token<R>(token: Token, f: impl FnOnce() -> R) -> R {
    struct Restore(Token);
    impl Drop for Restore {
        fn drop(&mut self) {
            let old = self.0.take();
            TOKEN.with(|t| *t.borrow_mut() = old);
        }
    }
    let old = TOKEN.with(|t| t.replace(token));
    let _restore = Restore(old);
    f()
}

/// Stops the running kernel if its flag is set.
pub fn checkpoint() {
    let stop = TOKEN.with(|t| {
        t.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    });
    if stop {
        resume_unwind(Box::new(Cancelled));
    }
}

/// Runs a kernel that stops at its next checkpoint once `flag` is set.
pub fn run<T>(flag: Arc<AtomicBool>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(|| with_token(Some(flag), f))) {
        Ok(result) => result,
        Err(payload) if payload.is::<Cancelled>() => Err(Error::Cancelled),
        Err(payload) => resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_flag_stops_at_the_next_checkpoint() {
        let flag = Arc::new(AtomicBool::new(false));
        assert_eq!(run(flag.clone(), || Ok(1)), Ok(1));
        flag.store(true, Ordering::Relaxed);
        let got = run(flag, || {
            crate::parallel::map_indexed(64, |i| i);
            Ok(2)
        });
        assert_eq!(got, Err(Error::Cancelled));
        checkpoint(); // no flag outside `run`
    }
}
