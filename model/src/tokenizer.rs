//! CLIP's byte-level BPE tokenizer (OpenAI vocabulary) and the alignment of a caption's
//! subject / relation / object with its tokens.

use instant_clip_tokenizer::{Token, Tokenizer};
use tch::Tensor;

use crate::error::ModelError;

/// Half-open range of token positions `[start, end)` in an encoded caption (start token at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSpan {
    /// First position of the part.
    pub start: usize,
    /// One past its last position.
    pub end: usize,
}

/// Token positions of a caption's subject, relation and object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvoSpans {
    /// The subject's tokens.
    pub subject: TokenSpan,
    /// The relation's tokens (may be several words: "in front of").
    pub relation: TokenSpan,
    /// The object's tokens.
    pub object: TokenSpan,
}

impl SvoSpans {
    /// 0/1 masks [3, len] marking each part's tokens, in subject, relation, object order.
    pub fn masks(&self, len: usize) -> Vec<f32> {
        let mut m = vec![0.0; 3 * len];
        for (row, span) in [self.subject, self.relation, self.object]
            .iter()
            .enumerate()
        {
            for pos in span.start..span.end.min(len) {
                m[row * len + pos] = 1.0;
            }
        }
        m
    }
}

/// CLIP tokenizer producing fixed-length id rows: start, tokens, end, zero padding.
pub struct ClipTokenizer {
    inner: Tokenizer,
    context: usize,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("context", &self.context)
            .finish()
    }
}

impl ClipTokenizer {
    /// A tokenizer with OpenAI's vocabulary for rows of `context` tokens (77 in CLIP).
    pub fn new(context: usize) -> Self {
        Self {
            inner: Tokenizer::new(),
            context: context.max(2),
        }
    }

    /// Id of the start-of-text token.
    pub fn start_id(&self) -> i64 {
        i64::from(self.inner.start_of_text().to_u16())
    }

    /// Id of the end-of-text token.
    pub fn end_id(&self) -> i64 {
        i64::from(self.inner.end_of_text().to_u16())
    }

    /// BPE ids of `text` without start / end tokens, after CLIP's text clean-up.
    pub fn bpe(&self, text: &str) -> Vec<i64> {
        let mut tokens: Vec<Token> = Vec::new();
        self.inner
            .encode(&crate::text_clean::clean(text), &mut tokens);
        tokens.into_iter().map(|t| i64::from(t.to_u16())).collect()
    }

    /// Start token, BPE ids and end token, truncated so that the end token stays last.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(self.context);
        ids.push(self.start_id());
        ids.extend(self.bpe(text));
        ids.truncate(self.context - 1);
        ids.push(self.end_id());
        ids
    }

    /// A batch of texts as an id tensor [B, context], zero-padded.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Tensor {
        let mut flat = vec![0i64; texts.len() * self.context];
        for (row, text) in texts.iter().enumerate() {
            let ids = self.encode(text.as_ref());
            flat[row * self.context..row * self.context + ids.len()].copy_from_slice(&ids);
        }
        Tensor::from_slice(&flat).view([texts.len() as i64, self.context as i64])
    }

    /// Token spans of parts given as byte ranges of the caption (subject, relation, object),
    /// as a curation tool that knows where each part is would give them. Each range must
    /// start and end at word boundaries; parts past the 77-token context are an error.
    pub fn svo_spans_at(
        &self,
        caption: &str,
        ranges: [std::ops::Range<usize>; 3],
    ) -> Result<SvoSpans, ModelError> {
        let ids_len = self.encode(caption).len();
        let span =
            |part: &'static str, r: &std::ops::Range<usize>| -> Result<TokenSpan, ModelError> {
                let err = |why: &str| ModelError::SvoNotFound {
                    caption: caption.to_string(),
                    part,
                    text: format!("bytes {}..{} ({why})", r.start, r.end),
                };
                let (Some(before), Some(through)) = (caption.get(..r.start), caption.get(..r.end))
                else {
                    return Err(err("not character boundaries of the caption"));
                };
                if r.start >= r.end {
                    return Err(err("empty range"));
                }
                // BPE works word by word: the tokens of a prefix ending at a word boundary are
                // exactly the first tokens of the whole caption.
                let start = 1 + self.bpe(before).len();
                let end = 1 + self.bpe(through).len();
                let whole = self.bpe(caption);
                let cut_word =
                    whole.get(start - 1..end - 1) != Some(&self.bpe(&caption[r.clone()])[..]);
                if cut_word {
                    return Err(err("does not start and end at word boundaries"));
                }
                if end >= ids_len {
                    return Err(err("beyond the context length"));
                }
                Ok(TokenSpan { start, end })
            };
        Ok(SvoSpans {
            subject: span("subject", &ranges[0])?,
            relation: span("relation", &ranges[1])?,
            object: span("object", &ranges[2])?,
        })
    }

    /// Finds the subject, then the relation after it, then the object after that, among the
    /// caption's tokens; each part must consist of whole words of the caption.
    pub fn svo_spans(
        &self,
        caption: &str,
        subject: &str,
        relation: &str,
        object: &str,
    ) -> Result<SvoSpans, ModelError> {
        let ids = self.encode(caption);
        // The end token is not searchable: parts must lie within the caption's own tokens.
        let body = &ids[..ids.len() - 1];
        let mut from = 1;
        let mut find = |part: &'static str, text: &str| -> Result<TokenSpan, ModelError> {
            let needle = self.bpe(text);
            let not_found = || ModelError::SvoNotFound {
                caption: caption.to_string(),
                part,
                text: text.to_string(),
            };
            if needle.is_empty() || body.len() < needle.len() {
                return Err(not_found());
            }
            let start = (from..=body.len() - needle.len())
                .find(|&i| body[i..i + needle.len()] == needle[..])
                .ok_or_else(not_found)?;
            from = start + needle.len();
            Ok(TokenSpan { start, end: from })
        };
        Ok(SvoSpans {
            subject: find("subject", subject)?,
            relation: find("relation", relation)?,
            object: find("object", object)?,
        })
    }
}
