//! A bounded channel from a blocking thread (the upstream call, made with
//! `ureq`) to an actix response: the thread sets the response head once and
//! pushes body chunks; the handler awaits the head and returns the
//! [`PipeBody`] as a streaming body.
//!
//! When the client goes away, actix drops the body; the next push then
//! returns `false`, so the thread stops reading the upstream and stores
//! nothing. A thread that fails mid-body ends the body with an error, which
//! makes actix cut the connection instead of finishing a truncated stream
//! cleanly.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

/// Chunks buffered before the producer waits for the client.
const MAX_QUEUED: usize = 64;

/// What the upstream answered, or why it did not.
#[derive(Debug)]
pub enum Head {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// The gateway's own error (status, error type, message).
    Failed(u16, &'static str, String),
}

#[derive(Default)]
struct State {
    head: Option<Head>,
    chunks: VecDeque<Bytes>,
    done: bool,
    failed: bool,
    cancelled: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    space: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(mut s: MutexGuard<'_, State>) {
        let w = s.waker.take();
        drop(s);
        if let Some(w) = w {
            w.wake();
        }
    }

    fn cancel(&self) {
        let mut s = self.lock();
        s.cancelled = true;
        drop(s);
        self.space.notify_all();
    }
}

/// A new pipe: the producer half for the thread, the consumer half for the
/// handler.
pub fn pipe() -> (Producer, Consumer) {
    let shared = Arc::new(Shared::default());
    (
        Producer(shared.clone()),
        Consumer {
            shared: Some(shared),
        },
    )
}

/// The thread's half.
pub struct Producer(Arc<Shared>);

impl Producer {
    pub fn head(&self, head: Head) {
        let mut s = self.0.lock();
        s.head = Some(head);
        Shared::wake(s);
    }

    /// Queues a chunk, waiting while the client is slow. `false`: the client
    /// is gone.
    pub fn push(&self, chunk: Bytes) -> bool {
        let mut s = self.0.lock();
        while s.chunks.len() >= MAX_QUEUED && !s.cancelled {
            s = self.0.space.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.cancelled {
            return false;
        }
        s.chunks.push_back(chunk);
        Shared::wake(s);
        true
    }

    /// Whether the client is gone.
    pub fn cancelled(&self) -> bool {
        self.0.lock().cancelled
    }

    /// Ends the body cleanly.
    pub fn finish(self) {
        let mut s = self.0.lock();
        s.done = true;
        Shared::wake(s);
    }

    /// Ends the body with an error: the client sees a cut connection.
    pub fn fail(self) {
        let mut s = self.0.lock();
        s.failed = true;
        Shared::wake(s);
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // A thread that panics or returns early still ends the body.
        let mut s = self.0.lock();
        if !s.done && !s.failed {
            s.failed = true;
            if s.head.is_none() {
                s.head = Some(Head::Failed(
                    502,
                    "api_error",
                    "the gateway lost the upstream call".into(),
                ));
            }
        }
        Shared::wake(s);
    }
}

/// The handler's half. Dropping it (the client went away before the head
/// arrived) cancels the call.
pub struct Consumer {
    shared: Option<Arc<Shared>>,
}

impl Consumer {
    /// Waits for the head.
    pub fn head(&mut self) -> HeadFuture<'_> {
        HeadFuture(self)
    }

    /// The body, to stream to the client.
    pub fn into_body(mut self) -> PipeBody {
        PipeBody(self.shared.take().expect("the pipe has its shared state"))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            s.cancel();
        }
    }
}

pub struct HeadFuture<'a>(&'a mut Consumer);

impl Future for HeadFuture<'_> {
    type Output = Head;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Head> {
        let shared = self
            .0
            .shared
            .as_ref()
            .expect("the pipe has its shared state");
        let mut s = shared.lock();
        match s.head.take() {
            Some(h) => Poll::Ready(h),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The streaming response body.
pub struct PipeBody(Arc<Shared>);

impl Drop for PipeBody {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The error that ends a body whose upstream failed.
#[derive(Debug)]
pub struct UpstreamBroke;

impl std::fmt::Display for UpstreamBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream failed mid-response")
    }
}

impl std::error::Error for UpstreamBroke {}

impl MessageBody for PipeBody {
    type Error = UpstreamBroke;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, UpstreamBroke>>> {
        let mut s = self.0.lock();
        if let Some(chunk) = s.chunks.pop_front() {
            drop(s);
            self.0.space.notify_all();
            return Poll::Ready(Some(Ok(chunk)));
        }
        if s.failed {
            return Poll::Ready(Some(Err(UpstreamBroke)));
        }
        if s.done {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_body_cancels_the_producer() {
        let (p, c) = pipe();
        assert!(p.push(Bytes::from_static(b"a")));
        let body = c.into_body();
        drop(body);
        assert!(p.cancelled());
        assert!(!p.push(Bytes::from_static(b"b")));
    }

    #[test]
    fn a_full_queue_unblocks_on_cancel() {
        let (p, c) = pipe();
        let t = std::thread::spawn(move || {
            let mut pushed = 0;
            while p.push(Bytes::from_static(b"x")) {
                pushed += 1;
            }
            pushed
        });
        // The producer fills the queue, then waits; dropping the consumer
        // releases it.
        while Arc::strong_count(c.shared.as_ref().unwrap()) == 2
            && c.shared.as_ref().unwrap().lock().chunks.len() < MAX_QUEUED
        {
            std::thread::yield_now();
        }
        drop(c);
        assert_eq!(t.join().unwrap(), MAX_QUEUED);
    }
}
