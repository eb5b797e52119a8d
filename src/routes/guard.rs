//! The guard of the public routes: load shedding under a global concurrency limit, and a timeout.
//!
//! A request takes one of MAX_CONCURRENT_REQUESTS permits or is answered 503 at once (never
//! queued), keeps it until its response is ready, and is answered 503 when that takes longer than
//! REQUEST_TIMEOUT_SECS. tower's `LoadShed`, `GlobalConcurrencyLimit` and `Timeout` do the same
//! with an error type that axum's `HandleErrorLayer` then turns into a response by boxing the
//! future of every request; this one layer answers directly.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Timeout;
use tower::{Layer, Service};

use crate::drf::ApiError;

#[derive(Clone)]
pub struct GuardLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl GuardLayer {
    pub fn new(max_concurrent_requests: usize, timeout: Duration) -> Self {
        GuardLayer {
            permits: Arc::new(Semaphore::new(max_concurrent_requests)),
            timeout,
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            permits: self.permits.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => GuardFuture::Admitted {
                inner: tokio::time::timeout(self.timeout, self.inner.call(req)),
                _permit: permit,
            },
            Err(_) => GuardFuture::Shed,
        }
    }
}

pin_project! {
    #[project = GuardProj]
    pub enum GuardFuture<F> {
        Admitted {
            #[pin]
            inner: Timeout<F>,
            // Released when the response is ready (or the request is dropped).
            _permit: OwnedSemaphorePermit,
        },
        Shed,
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Admitted { inner, .. } => Poll::Ready(match ready!(inner.poll(cx)) {
                Ok(result) => result,
                Err(_elapsed) => Ok(ApiError::unavailable("Request timed out.").into_response()),
            }),
            GuardProj::Shed => Poll::Ready(Ok(ApiError::unavailable(
                "Server overloaded, try again later.",
            )
            .into_response())),
        }
    }
}
