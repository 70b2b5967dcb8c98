//! [`ChatTemplate`]: turns a conversation into the prompt text the model was trained on, with the
//! model's own Jinja template rendered by `minijinja`.
//!
//! Where the template comes from, first match wins (as vLLM): `--chat-template FILE` (or an
//! inline template string), the `chat_template` of `tokenizer_config.json` (a string, or a list
//! of `{name, template}` of which `default` is taken), a `chat_template.jinja` beside it, and for
//! models without one (the built-in `tiny`) [`ChatTemplate::BUILTIN`]. Rendering follows Hugging
//! Face's setup: `trim_blocks` and `lstrip_blocks` on, Python's string and dict methods
//! (`.strip()`, `.startswith()`, `.items()`, … through minijinja-contrib's pycompat),
//! `raise_exception(msg)` (its message becomes the 400 the client sees), `strftime_now(fmt)`, and
//! the variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, plus the
//! request's `chat_template_kwargs`.

use std::collections::BTreeMap;
use std::path::Path;

use dyno_protocol::chat::ChatMessage;
use minijinja::{Environment, Error, ErrorKind, Value};

const NAME: &str = "chat";

/// Why a template could not be loaded or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A template file or tokenizer config that cannot be read or parsed.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template that does not compile.
    #[error(
        "chat template from {origin} does not compile: {reason}; fix the template or pass another with --chat-template"
    )]
    Syntax {
        /// Where it came from.
        origin: String,
        /// minijinja's message.
        reason: String,
    },
    /// The template refused the conversation (`raise_exception`) or failed while rendering.
    #[error("the chat template could not render these messages: {0}")]
    Render(String),
}

/// A compiled chat template with the tokenizer's special-token strings. See the
/// [module docs](self).
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    origin: String,
}

impl ChatTemplate {
    /// The template of models that bring none: one `<|role|>` line per message, then the text.
    pub const BUILTIN: &'static str = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

    /// Compiles `source`; `origin` names it in messages.
    ///
    /// # Errors
    /// [`TemplateError::Syntax`] when it does not compile.
    pub fn new(
        source: &str,
        origin: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, TemplateError> {
        let origin = origin.into();
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| TemplateError::Syntax {
                origin: origin.clone(),
                reason: e.to_string(),
            })?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| TemplateError::Syntax {
                origin: origin.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            origin,
        })
    }

    /// The template for a model: `explicit` (a file, or an inline template when no such file
    /// exists and it contains `{`) wins; else the first of `dirs` (tokenizer, then model
    /// directory) whose `tokenizer_config.json` or `chat_template.jinja` has one; else
    /// [`Self::BUILTIN`]. Special-token strings come from the first `tokenizer_config.json`.
    ///
    /// # Errors
    /// An unreadable or malformed file, or a template that does not compile.
    pub fn resolve(explicit: Option<&str>, dirs: &[&Path]) -> Result<Self, TemplateError> {
        let mut bos = String::new();
        let mut eos = String::new();
        let mut found: Option<(String, String)> = None;
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let config_path = dir.join("tokenizer_config.json");
            if config_path.is_file() {
                let config = read_json(&config_path)?;
                if bos.is_empty() && eos.is_empty() {
                    bos = special_token(&config, "bos_token");
                    eos = special_token(&config, "eos_token");
                }
                if found.is_none()
                    && let Some(t) = template_of_config(&config)
                {
                    found = Some((t, config_path.display().to_string()));
                }
            }
            let jinja = dir.join("chat_template.jinja");
            if found.is_none() && jinja.is_file() {
                found = Some((read_text(&jinja)?, jinja.display().to_string()));
            }
        }
        if let Some(explicit) = explicit {
            let path = Path::new(explicit);
            found = Some(if path.is_file() {
                (read_text(path)?, path.display().to_string())
            } else if explicit.contains('{') {
                (explicit.to_owned(), "--chat-template".to_owned())
            } else {
                return Err(TemplateError::Read {
                    path: explicit.to_owned(),
                    reason: "no such file; pass a Jinja template file to --chat-template".into(),
                });
            });
        }
        let (source, origin) = found.unwrap_or_else(|| {
            (
                Self::BUILTIN.to_owned(),
                "dyno's built-in template".to_owned(),
            )
        });
        Self::new(&source, origin, bos, eos)
    }

    /// Where the template came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Renders `messages` (plus the assistant turn's opening when `add_generation_prompt`), with
    /// `kwargs` as extra template variables.
    ///
    /// # Errors
    /// [`TemplateError::Render`] with the template's own message when it refuses.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        kwargs: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<String, TemplateError> {
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(kwargs) = kwargs {
            for (k, v) in kwargs {
                ctx.insert(k.clone(), json_to_value(v));
            }
        }
        let messages: Vec<Value> = messages.iter().map(message_value).collect();
        ctx.insert("messages".into(), Value::from(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        ctx.insert("bos_token".into(), Value::from(self.bos_token.as_str()));
        ctx.insert("eos_token".into(), Value::from(self.eos_token.as_str()));
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateError::Render(e.to_string()))?;
        template.render(Value::from(ctx)).map_err(|e| {
            TemplateError::Render(match e.kind() {
                ErrorKind::InvalidOperation => e.detail().unwrap_or("invalid operation").to_owned(),
                _ => e.to_string(),
            })
        })
    }
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// Python's `strftime` of the current UTC time for the directives templates use
/// (`%d %b %Y %B %m %y %H %M %S %%`).
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    strftime(&format, secs)
}

fn strftime(format: &str, unix_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (year, month, day) = civil_from_days((unix_secs / 86_400) as i64);
    let secs_of_day = unix_secs % 86_400;
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let month_name = MONTHS[(month - 1) as usize];
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&month_name[..3]),
            Some('B') => out.push_str(month_name),
            Some('H') => out.push_str(&format!("{:02}", secs_of_day / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs_of_day / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs_of_day % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn message_value(m: &ChatMessage) -> Value {
    let mut map: BTreeMap<String, Value> = m
        .rest
        .iter()
        .map(|(k, v)| (k.clone(), json_to_value(v)))
        .collect();
    map.insert("role".into(), Value::from(m.role.as_str()));
    map.insert(
        "content".into(),
        m.content
            .as_ref()
            .map_or(Value::from(()), |c| Value::from(c.text())),
    );
    Value::from(map)
}

fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(json_to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

fn read_text(path: &Path) -> Result<String, TemplateError> {
    std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
        path: path.display().to_string(),
        reason: format!("cannot read it ({e})"),
    })
}

fn read_json(path: &Path) -> Result<serde_json::Value, TemplateError> {
    serde_json::from_str(&read_text(path)?).map_err(|e| TemplateError::Read {
        path: path.display().to_string(),
        reason: format!("not valid JSON ({e}); fix or remove the file"),
    })
}

/// `chat_template` of a tokenizer config: a string, or the `default` (else first) entry of a
/// list of `{name, template}`.
fn template_of_config(config: &serde_json::Value) -> Option<String> {
    match config.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// A special token's text: a string, or an `AddedToken` object's `content`.
fn special_token(config: &serde_json::Value, key: &str) -> String {
    match config.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_template_renders_roles() {
        let t = ChatTemplate::new(ChatTemplate::BUILTIN, "builtin", "", "").unwrap();
        let text = t
            .render(
                &[
                    ChatMessage::new("system", "be brief"),
                    ChatMessage::new("user", "hi"),
                ],
                true,
                None,
            )
            .unwrap();
        assert_eq!(text, "<|system|>\nbe brief\n<|user|>\nhi\n<|assistant|>\n");
        let no_prompt = t
            .render(&[ChatMessage::new("user", "hi")], false, None)
            .unwrap();
        assert_eq!(no_prompt, "<|user|>\nhi\n");
    }

    #[test]
    fn raise_exception_message_reaches_the_caller() {
        let t = ChatTemplate::new(
            "{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}ok",
            "inline",
            "",
            "",
        )
        .unwrap();
        let err = t
            .render(
                &[ChatMessage::new("user", "a"), ChatMessage::new("user", "b")],
                true,
                None,
            )
            .unwrap_err();
        assert_eq!(err, TemplateError::Render("one message only".into()));
    }

    #[test]
    fn python_methods_kwargs_and_trim_blocks() {
        let t = ChatTemplate::new(
            "{% for m in messages %}\n{{ m.content.strip() }}{% if m.content.startswith(' x') %}!{% endif %}\n{% endfor %}{{ flavor }}",
            "inline",
            "<s>",
            "</s>",
        )
        .unwrap();
        let mut kwargs = serde_json::Map::new();
        kwargs.insert("flavor".into(), serde_json::json!("mint"));
        let text = t
            .render(&[ChatMessage::new("user", " xy ")], true, Some(&kwargs))
            .unwrap();
        // trim_blocks drops the newline after `{% endif %}`, as Jinja2 does.
        assert_eq!(text, "xy!mint");
    }

    #[test]
    fn syntax_errors_name_the_origin() {
        let err = ChatTemplate::new("{% for %}", "my.jinja", "", "").unwrap_err();
        assert!(err.to_string().contains("my.jinja"), "{err}");
    }

    #[test]
    fn strftime_formats_known_dates() {
        // 2024-07-26 00:00:00 UTC.
        assert_eq!(strftime("%d %b %Y", 1_721_952_000), "26 Jul 2024");
        assert_eq!(
            strftime("%Y-%m-%d %H:%M:%S %B %%", 0),
            "1970-01-01 00:00:00 January %"
        );
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn config_template_forms() {
        let list = serde_json::json!({"chat_template": [
            {"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]});
        assert_eq!(template_of_config(&list).as_deref(), Some("D"));
        let obj = serde_json::json!({"bos_token": {"content": "<s>", "lstrip": false}});
        assert_eq!(special_token(&obj, "bos_token"), "<s>");
        assert_eq!(special_token(&obj, "eos_token"), "");
    }
}
