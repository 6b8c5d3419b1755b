//! Fault drills: any provider can be told to fail, hang, rate-limit or fail N times, so
//! fallback, retries and breakers can be seen working (`/debug/provider/{name}/fail`).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{
    Delta, DeltaStream, EmbedRequest, EmbedResponse, Provider, ProviderError, ProviderRequest,
    ProviderResponse,
};

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Behave normally.
    Off,
    /// Every call fails as unavailable.
    Fail,
    /// Every call hangs until the caller's timeout.
    Timeout,
    /// Every call is rate limited with this retry-after.
    RateLimit(Duration),
    /// The next N calls fail, then normal service resumes.
    FailNTimes(u32),
    /// Streams break after their first delta; whole calls fail.
    BreakMidStream,
    /// Every streamed delta (and a whole answer) waits this long first: a slow provider,
    /// so Stop and cancellation can be seen mid-answer.
    Slow(Duration),
}

/// A provider with a fault switch in front of it.
pub struct Faulty {
    inner: Arc<dyn Provider>,
    mode: Mutex<FaultMode>,
}

impl Faulty {
    /// Wraps a provider, faults off.
    pub fn new(inner: Arc<dyn Provider>) -> Self {
        Faulty {
            inner,
            mode: Mutex::new(FaultMode::Off),
        }
    }

    /// Switches the fault.
    pub fn set(&self, mode: FaultMode) {
        *self.mode.lock() = mode;
    }

    async fn check(&self) -> Result<(), ProviderError> {
        let mode = {
            let mut m = self.mode.lock();
            let now = *m;
            if let FaultMode::FailNTimes(n) = now {
                *m = if n <= 1 {
                    FaultMode::Off
                } else {
                    FaultMode::FailNTimes(n - 1)
                };
            }
            now
        };
        match mode {
            FaultMode::Off => Ok(()),
            FaultMode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            FaultMode::Fail | FaultMode::FailNTimes(_) | FaultMode::BreakMidStream => {
                Err(ProviderError::Unavailable("injected failure".into()))
            }
            FaultMode::RateLimit(after) => Err(ProviderError::RateLimited {
                retry_after: Some(after),
            }),
            FaultMode::Timeout => {
                std::future::pending::<()>().await;
                Err(ProviderError::Timeout)
            }
        }
    }
}

#[async_trait::async_trait]
impl Provider for Faulty {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        self.check().await?;
        self.inner.generate(req).await
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        if *self.mode.lock() == FaultMode::BreakMidStream {
            let inner = self.inner.stream(req).await?;
            // Everything up to and with the first text, then the break.
            let mut texts = 0;
            let first = futures::StreamExt::take_while(inner, move |d| {
                let go = texts == 0;
                texts += usize::from(matches!(d, Ok(Delta::Text(_))));
                std::future::ready(go)
            });
            let broken = futures::StreamExt::chain(
                first,
                futures::stream::once(async {
                    Err(ProviderError::Unavailable(
                        "injected mid-stream break".into(),
                    ))
                }),
            );
            return Ok(Box::pin(broken));
        }
        let mode = *self.mode.lock();
        if let FaultMode::Slow(delay) = mode {
            let inner = self.inner.stream(req).await?;
            let slowed = futures::StreamExt::then(inner, move |d| async move {
                if !matches!(d, Ok(Delta::Progress(_))) {
                    tokio::time::sleep(delay).await;
                }
                d
            });
            return Ok(Box::pin(slowed));
        }
        self.check().await?;
        self.inner.stream(req).await
    }

    async fn warm(&self) -> Result<(), ProviderError> {
        self.inner.warm().await
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        self.inner.list_models().await
    }

    fn is_usable(&self) -> bool {
        self.inner.is_usable()
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.check().await?;
        self.inner.embed(req).await
    }
}
