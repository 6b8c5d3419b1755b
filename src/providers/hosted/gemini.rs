//! Gemini adapter (being written).

use super::Endpoint;
use crate::providers::{DeltaStream, Provider, ProviderError, ProviderRequest, ProviderResponse};

/// The adapter.
pub(crate) struct Gemini {
    endpoint: Endpoint,
}

impl Gemini {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Gemini { endpoint }
    }
}

#[async_trait::async_trait]
impl Provider for Gemini {
    async fn generate(&self, _req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        Err(ProviderError::Unavailable(format!(
            "{} is not wired yet",
            self.endpoint.name
        )))
    }

    async fn stream(&self, _req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        Err(ProviderError::Unavailable(format!(
            "{} is not wired yet",
            self.endpoint.name
        )))
    }
}
