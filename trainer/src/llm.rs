//! A client of an OpenAI-compatible chat endpoint, for the labels of the quality filter and
//! for rewriting negatives. Prompts are templates with `{caption}`, `{subj}`, `{rel}` and
//! `{obj}` in them; the defaults are in `config/prompts/`.

use std::time::Duration;

use serde_json::json;

/// Why the endpoint gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// It could not be reached.
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// It answered with an error status.
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// Its answer is not a chat completion.
    #[error("{url}: not a chat completion: {reason}")]
    BadReply { url: String, reason: String },
}

/// An OpenAI-compatible chat completions endpoint.
#[derive(Debug, Clone)]
pub struct LlmClient {
    /// `<base>/chat/completions`.
    url: String,
    model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl LlmClient {
    /// A client of the endpoint at `base` (e.g. `http://127.0.0.1:8000/v1`) asking `model`,
    /// with a bearer `api_key` if given.
    pub fn new(base: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Self {
        Self {
            url: format!("{}/chat/completions", base.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
        }
    }

    /// The model's answer to `prompt` (one user message, temperature 0).
    pub fn ask(&self, prompt: &str) -> Result<String, LlmError> {
        let body = json!({
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut request = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        let url = self.url.clone();
        let reply = match request.send_string(&body.to_string()) {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(LlmError::Http {
                    url,
                    status,
                    body: body.chars().take(300).collect(),
                });
            }
            Err(e) => {
                return Err(LlmError::Unreachable {
                    url,
                    reason: e.to_string(),
                });
            }
        };
        let bad = |reason: String| LlmError::BadReply {
            url: self.url.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_reader(reply.into_reader()).map_err(|e| bad(e.to_string()))?;
        value["choices"][0]["message"]["content"]
            .as_str()
            .map(|s| s.trim().to_string())
            .ok_or_else(|| bad("no choices[0].message.content".into()))
    }
}

/// `template` with `{caption}`, `{subj}`, `{rel}` and `{obj}` filled in.
pub fn fill(template: &str, caption: &str, subj: &str, rel: &str, obj: &str) -> String {
    template
        .replace("{caption}", caption)
        .replace("{subj}", subj)
        .replace("{rel}", rel)
        .replace("{obj}", obj)
}

/// A yes / no answer's meaning: its first word, whatever the case and punctuation.
pub fn yes_no(answer: &str) -> Option<bool> {
    let first: String = answer
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    match first.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_templates() {
        assert_eq!(yes_no("Yes."), Some(true));
        assert_eq!(yes_no("  no, the relation is wrong"), Some(false));
        assert_eq!(yes_no("Maybe"), None);
        assert_eq!(
            fill(
                "{caption} | {subj} {rel} {obj}",
                "a man on a bike",
                "man",
                "on",
                "bike"
            ),
            "a man on a bike | man on bike"
        );
    }

    #[test]
    fn an_unreachable_endpoint_is_named() {
        // A port just released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let c = LlmClient::new(
            &format!("http://127.0.0.1:{port}/v1"),
            "m",
            None,
            Duration::from_secs(2),
        );
        let e = c.ask("hi").expect_err("nothing listens").to_string();
        assert!(
            e.contains(&format!("127.0.0.1:{port}/v1/chat/completions")),
            "{e}"
        );
    }
}
