//! Embeddings as every provider receives and answers them: texts in, one vector per text out.

use super::Usage;

/// A normalised embedding request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    /// The provider's own model id.
    pub model_id: String,
    /// The texts, each embedded on its own; never empty, none empty.
    pub inputs: Vec<String>,
    /// Fewer dimensions than the model's own, where the model can give them.
    pub dimensions: Option<u32>,
}

/// One vector per input, in the inputs' order.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedResponse {
    /// The vectors.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read (`input_tokens`; nothing is generated).
    pub usage: Usage,
}

/// `v` cut to its first `dimensions` values and scaled back to unit length: what OpenAI's
/// text-embedding-3 models do with `dimensions`, applied to a model that has no native
/// shortening. `dimensions` over the vector's length is the caller's error.
pub fn shorten(mut v: Vec<f32>, dimensions: Option<u32>) -> Result<Vec<f32>, super::ProviderError> {
    let Some(d) = dimensions else { return Ok(v) };
    let d = d as usize;
    if d == 0 || d > v.len() {
        return Err(super::ProviderError::Unsupported(format!(
            "dimensions must be between 1 and the model's {}",
            v.len()
        )));
    }
    v.truncate(d);
    Ok(unit(v))
}

/// `v` scaled to unit length (a zero vector stays zero).
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortened_vector_is_the_leading_values_at_unit_length() {
        let v = shorten(vec![3.0, 4.0, 12.0], Some(2)).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
        assert_eq!(shorten(vec![1.0, 0.0], None).unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn more_dimensions_than_the_model_has_or_none_is_refused() {
        assert!(matches!(
            shorten(vec![1.0; 4], Some(5)),
            Err(super::super::ProviderError::Unsupported(_))
        ));
        assert!(shorten(vec![1.0; 4], Some(0)).is_err());
    }
}
