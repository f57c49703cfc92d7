//! The log: text (one line per record) or JSON (one object per line) on stderr.
//!
//! Logged values often come from outside (an identity provider's error description, a SCIM
//! attribute, a name in an ID token). In the text format every field, the message included, is
//! written with its control and bidi characters escaped (`\n`, `\u{1b}`), so nobody can forge a
//! log line or drive the operator's terminal. JSON escapes them by itself.

use crate::config::LogFormat;
use crate::domain::text::is_unprintable;
use std::fmt::{self, Write};
use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::Writer;

/// Installs the process's logger (once; later calls change nothing).
pub fn init(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ROTA_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.fmt_fields(escaped_fields()).try_init(),
    };
}

/// The text format's field formatter: `name=value` pairs, the message bare, all escaped.
pub fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(write_field).delimited(" ")
}

fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    if field.name() != "message" {
        write!(w, "{}=", field.name())?;
    }
    // A `%value` field arrives as Display wrapped in Debug: escape what it writes.
    write!(Escaping(w), "{value:?}")
}

/// Writes through to `W`, escaping unprintable characters on the way.
struct Escaping<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| is_unprintable(c)) {
            self.0.write_str(&rest[..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use std::sync::{Arc, Mutex};

    /// A log writer that keeps what is written, for tests that read the log.
    #[derive(Clone, Default)]
    pub(crate) struct Buffer(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write_all(buf)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: super::LogFormat) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        let forged = "denied\n2026-01-01T00:00:00Z  INFO rota: owner signed in\x1b[2J";
        let emit = || {
            let span = tracing::info_span!("request", path = %"/x\r\ny");
            let _in = span.enter();
            tracing::info!(detail = %forged, name = forged, "refused: {forged}");
        };
        match format {
            super::LogFormat::Text => tracing::subscriber::with_default(
                builder.fmt_fields(super::escaped_fields()).finish(),
                emit,
            ),
            super::LogFormat::Json => {
                tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), emit)
            }
        }
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_value_with_line_breaks_and_escapes_stays_on_its_one_line() {
        for format in [super::LogFormat::Text, super::LogFormat::Json] {
            let out = logged(format);
            assert_eq!(out.matches('\n').count(), 1, "{out}");
            assert!(out.ends_with('\n'), "{out}");
            assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
            assert!(out.contains("denied\\n2026"), "{out}");
        }
    }
}
