//! Phone calls through Twilio's REST API (`POST /2010-04-01/Accounts/{sid}/Calls.json`,
//! Basic auth with the Account SID and Auth Token), with the call's TwiML given inline: it
//! says the incident and gathers one digit, which Twilio posts back to Rota. Twilio signs
//! its callbacks (`X-Twilio-Signature`: base64 HMAC-SHA1, keyed by the Auth Token, over the
//! URL followed by each POST parameter's name and value, sorted by name); `verify` checks
//! that in constant time.

use super::Failure;
use crate::config::TwilioConfig;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use serde::Deserialize;
use sha1::Sha1;

/// Twilio's limit on inline TwiML.
const MAX_TWIML: usize = 4_000;

/// Places calls from the configured number.
#[derive(Clone)]
pub struct Voice {
    http: reqwest::Client,
    config: TwilioConfig,
}

/// What Twilio answers to a call it placed (`sid`) or refused (`code`, `message`).
#[derive(Deserialize)]
struct CallAnswer {
    sid: Option<String>,
    code: Option<i64>,
    message: Option<String>,
}

impl Voice {
    pub fn new(config: TwilioConfig) -> Voice {
        Voice {
            http: super::http_client(),
            config,
        }
    }

    /// The Auth Token, which keys the callbacks' signatures.
    pub fn auth_token(&self) -> &str {
        &self.config.auth_token.0
    }

    /// Calls `to` (E.164) with `twiml`; Twilio reports the call's end to `status_callback`.
    /// Returns the call's SID.
    pub async fn call(
        &self,
        to: &str,
        twiml: &str,
        status_callback: &str,
    ) -> Result<String, Failure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.config.base_url, self.config.account_sid
        );
        let form = [
            ("To", to),
            ("From", self.config.from.as_str()),
            ("Twiml", twiml),
            ("StatusCallback", status_callback),
            ("StatusCallbackMethod", "POST"),
        ];
        let answer = self
            .http
            .post(&url)
            .basic_auth(&self.config.account_sid, Some(self.auth_token()))
            .form(&form)
            .send()
            .await
            .map_err(|e| Failure::of_reqwest("Twilio", &e))?;
        let status = answer.status();
        let body: Option<CallAnswer> = answer.json().await.ok();
        if status.is_success() {
            return body.and_then(|b| b.sid).ok_or_else(|| {
                Failure::temporary(format!("Twilio answered {status} without a call SID"))
            });
        }
        let why = body
            .map(|b| {
                format!(
                    "{}{}",
                    b.message.unwrap_or_default(),
                    b.code
                        .map(|c| format!(" (Twilio error {c})"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let reason = format!("Twilio refused the call: {status} {why}")
            .trim_end()
            .to_string();
        // 4xx is about this call (an invalid or unreachable number, a bad account):
        // calling again does not help. 429 and 5xx do pass.
        if status.is_client_error() && status.as_u16() != 429 {
            Err(Failure::permanent(reason))
        } else {
            Err(Failure::temporary(reason))
        }
    }
}

/// Twilio's signature of a callback to `url` with the POST `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is Twilio's signature of this callback (constant-time comparison).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Byte order of names, as Twilio's own libraries sort (stable for repeated names).
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// The `language` Twilio's `<Say>` takes for one of Rota's languages.
fn say_language(lang: &str) -> &'static str {
    match lang {
        "ja" => "ja-JP",
        _ => "en-US",
    }
}

/// TwiML that says `text` while gathering one digit, posted to `action`; says it twice
/// (people pick up mid-sentence), then `goodbye` if no key was pressed.
pub fn gather(lang: &str, text: &str, action: &str, goodbye: &str) -> String {
    let language = say_language(lang);
    let mut w = Writer::new(Vec::new());
    let xml = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )))?;
        w.write_event(Event::Start(BytesStart::new("Response")))?;
        w.create_element("Gather")
            .with_attributes([
                ("numDigits", "1"),
                ("action", action),
                ("method", "POST"),
                ("timeout", "8"),
            ])
            .write_inner_content(|w| {
                for _ in 0..2 {
                    w.create_element("Say")
                        .with_attribute(("language", language))
                        .write_text_content(BytesText::new(text))?;
                }
                Ok(())
            })?;
        w.create_element("Say")
            .with_attribute(("language", language))
            .write_text_content(BytesText::new(goodbye))?;
        w.write_event(Event::End(BytesEnd::new("Response")))?;
        Ok(())
    })();
    xml.expect("writing XML into memory cannot fail");
    String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
}

/// TwiML that says `text` and hangs up.
pub fn say(lang: &str, text: &str) -> String {
    let mut w = Writer::new(Vec::new());
    let xml = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )))?;
        w.write_event(Event::Start(BytesStart::new("Response")))?;
        w.create_element("Say")
            .with_attribute(("language", say_language(lang)))
            .write_text_content(BytesText::new(text))?;
        w.write_event(Event::Empty(BytesStart::new("Hangup")))?;
        w.write_event(Event::End(BytesEnd::new("Response")))?;
        Ok(())
    })();
    xml.expect("writing XML into memory cannot fail");
    String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
}

/// Cuts spoken text so the TwiML stays within Twilio's limit (the title is what grows).
pub fn fit(text: &str, twiml_len: usize) -> String {
    if twiml_len <= MAX_TWIML {
        return text.to_string();
    }
    let over = twiml_len - MAX_TWIML;
    // Each character of text appears twice in the gather, escaped at most 6 bytes each.
    let keep = text.chars().count().saturating_sub(over.div_ceil(2) + 8);
    text.chars().take(keep).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in Twilio's security documentation ("Validating Signatures from Twilio").
    #[test]
    fn signatures_match_twilios_documented_example() {
        let token = "12345";
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = signature(token, url, &params);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(token, url, &params, &sig));
        assert!(!verify("54321", url, &params, &sig));
        assert!(!verify(
            token,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            &sig
        ));
        let mut changed = params.clone();
        changed[2].1 = "4".into();
        assert!(!verify(token, url, &changed, &sig));
        assert!(!verify(token, url, &params, "not base64!"));
    }

    #[test]
    fn twiml_escapes_what_it_says() {
        let t = gather(
            "ja",
            "Disk <full> & \"hot\"",
            "https://rota/twilio/voice/n1/gather?x=1&y=2",
            "bye",
        );
        assert!(t.contains("language=\"ja-JP\""), "{t}");
        assert!(t.contains("Disk &lt;full&gt; &amp;"), "{t}");
        assert!(
            t.contains("action=\"https://rota/twilio/voice/n1/gather?x=1&amp;y=2\""),
            "{t}"
        );
        assert!(t.contains("numDigits=\"1\""), "{t}");
        let s = say("en", "Acknowledged.");
        assert!(s.contains("<Hangup/>") && s.contains("en-US"), "{s}");
    }
}
