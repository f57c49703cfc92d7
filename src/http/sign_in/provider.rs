//! The OIDC provider (Entra ID) as Rota talks to it: discovery (fetched on first use, so Rota
//! starts even while Entra is down), the authorization URL with PKCE, the code exchange with
//! the client secret, and the signing keys, cached and refetched when a token names a key we
//! have not seen (Entra rotates keys).

use super::id_token::{self, Expected, TokenError};
use crate::config::OidcConfig;
use crate::domain::sign_in::{EntraIdentity, Refusal};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreJsonWebKeySet,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, JsonWebKeySetUrl, LogoutRequest, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// A token with an unknown key refetches the keys at most this often, so forged tokens
/// cannot make us hammer the provider.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Discovered {
    client: Client,
    issuer: IssuerUrl,
    jwks_uri: JsonWebKeySetUrl,
    end_session: Option<openidconnect::EndSessionUrl>,
}

struct Keys {
    set: Arc<CoreJsonWebKeySet>,
    fetched: Instant,
}

pub struct Provider {
    config: OidcConfig,
    client_id: ClientId,
    redirect_uri: RedirectUrl,
    post_logout_uri: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    keys: RwLock<Option<Keys>>,
}

/// What the browser is sent to, and what the callback needs to finish the login.
pub struct Authorization {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Provider {
    pub fn new(config: OidcConfig, public_url: &str) -> Result<Provider, String> {
        let redirect_uri = RedirectUrl::new(format!("{public_url}/auth/oidc/callback"))
            .map_err(|e| format!("public URL: {e}"))?;
        let http = reqwest::Client::builder()
            // Never follow redirects from the provider (a redirect could point anywhere).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Provider {
            client_id: ClientId::new(config.client_id.clone()),
            config,
            redirect_uri,
            post_logout_uri: format!("{public_url}/"),
            http,
            discovered: RwLock::new(None),
            keys: RwLock::new(None),
        })
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, Refusal> {
        if let Some(d) = self.discovered.read().await.as_ref() {
            return Ok(d.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| Refusal::ProviderError(format!("issuer URL: {e}")))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                Refusal::ProviderError(format!(
                    "could not read {}/.well-known/openid-configuration: {}",
                    self.config.issuer,
                    error_chain(&e)
                ))
            })?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let jwks_uri = metadata.jwks_uri().clone();
        *self.keys.write().await = Some(Keys {
            set: Arc::new(metadata.jwks().clone()),
            fetched: Instant::now(),
        });
        let client = CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(ClientSecret::new(self.config.client_secret.0.clone())),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        let d = Arc::new(Discovered {
            client,
            issuer,
            jwks_uri,
            end_session,
        });
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Where to send the browser: the provider's authorization endpoint with PKCE (S256), a
    /// fresh state and nonce, and the optional hints Entra understands.
    pub async fn authorize(
        &self,
        login_hint: Option<&str>,
        domain_hint: Option<&str>,
    ) -> Result<Authorization, Refusal> {
        let d = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = d
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_string());
        }
        if let Some(hint) = domain_hint {
            request = request.add_extra_param("domain_hint", hint.to_string());
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the client secret and the PKCE verifier) for the raw ID token.
    pub async fn exchange(&self, code: &str, pkce_verifier: &str) -> Result<String, Refusal> {
        let d = self.discovered().await?;
        let response = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| Refusal::ProviderError(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| match &e {
                // The code is used already or expired (or not this login's): a refusal of the
                // person's attempt, not a fault; any other answer means we or it are broken.
                RequestTokenError::ServerResponse(answer)
                    if *answer.error() == CoreErrorResponseType::InvalidGrant =>
                {
                    Refusal::CodeRefused(format!(
                        "the provider refused the sign-in code: invalid_grant {}",
                        answer.error_description().map_or("", String::as_str)
                    ))
                }
                _ => Refusal::ProviderError(format!("token request failed: {}", error_chain(&e))),
            })?;
        let token = response
            .id_token()
            .ok_or_else(|| Refusal::ProviderError("the token response has no ID token".into()))?;
        Ok(token.to_string())
    }

    /// Validates the ID token with the cached keys; a token signed with a key we do not know
    /// refetches the key set (rate-limited) and is checked once more.
    pub async fn validate(
        &self,
        raw: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<EntraIdentity, Refusal> {
        let d = self.discovered().await?;
        let nonce = Nonce::new(nonce.to_string());
        let expected = Expected {
            issuer: &d.issuer,
            client_id: &self.client_id,
            tenants: &self.config.tenants,
            nonce: &nonce,
            now,
        };
        let keys = self.current_keys().await;
        match id_token::verify(raw, &keys, &expected) {
            Ok(identity) => Ok(identity),
            Err(TokenError::Refused(r)) => Err(r),
            Err(TokenError::UnknownKey) => {
                let keys = self.refresh_keys(&d).await;
                match id_token::verify(raw, &keys, &expected) {
                    Ok(identity) => Ok(identity),
                    Err(TokenError::Refused(r)) => Err(r),
                    Err(TokenError::UnknownKey) => Err(Refusal::InvalidToken(
                        "signed with a key the provider does not publish".into(),
                    )),
                }
            }
        }
    }

    async fn current_keys(&self) -> Arc<CoreJsonWebKeySet> {
        self.keys
            .read()
            .await
            .as_ref()
            .map(|k| k.set.clone())
            .unwrap_or_default()
    }

    async fn refresh_keys(&self, d: &Discovered) -> Arc<CoreJsonWebKeySet> {
        let mut keys = self.keys.write().await;
        if let Some(k) = keys.as_ref()
            && k.fetched.elapsed() < KEY_REFRESH_INTERVAL
        {
            return k.set.clone();
        }
        match CoreJsonWebKeySet::fetch_async(&d.jwks_uri, &self.http).await {
            Ok(set) => {
                let set = Arc::new(set);
                *keys = Some(Keys {
                    set: set.clone(),
                    fetched: Instant::now(),
                });
                set
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "could not refetch the provider's signing keys");
                keys.as_ref().map(|k| k.set.clone()).unwrap_or_default()
            }
        }
    }

    /// The issuer's origin (`https://login.microsoftonline.com`), where sign-out continues: our
    /// pages' Content-Security-Policy lets forms go there.
    pub fn issuer_origin(&self) -> String {
        url::Url::parse(&self.config.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Where to send the browser after the local session ended: the provider's end-session
    /// endpoint (RP-initiated logout), back to our home page. `None` if it has none.
    pub async fn end_session_url(&self) -> Option<url::Url> {
        let d = self.discovered().await.ok()?;
        let endpoint = d.end_session.clone()?;
        let mut request = LogoutRequest::from(endpoint).set_client_id(self.client_id.clone());
        if let Ok(back) = PostLogoutRedirectUrl::new(self.post_logout_uri.clone()) {
            request = request.set_post_logout_redirect_uri(back);
        }
        Some(request.http_get_url())
    }
}

/// What the sign-in configuration check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckName {
    /// The issuer answers its discovery document, naming itself.
    Issuer,
    /// The signing keys the discovery document points to are fetched and not empty.
    Keys,
    /// The redirect URI Rota sends (register it in Entra) is https, or http on loopback.
    RedirectUri,
    /// A tenant is configured, and the issuer names none other.
    Tenant,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Issuer => "issuer",
            CheckName::Keys => "keys",
            CheckName::RedirectUri => "redirect_uri",
            CheckName::Tenant => "tenant",
        }
    }
}

/// One check's outcome, with what was found (or why it failed).
#[derive(Debug, Clone)]
pub struct Check {
    pub name: CheckName,
    pub passed: bool,
    pub finding: Finding,
}

/// What a check found, for a page to say in its reader's words. `error` is the HTTP
/// client's own message (English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    IssuerNotUrl {
        issuer: String,
        error: String,
    },
    DiscoveryUnread {
        url: String,
        error: String,
    },
    Discovered {
        issuer: String,
        authorization: String,
    },
    Keys {
        count: usize,
        from: String,
    },
    /// The keys were not fetched: the discovery document that names them was not read.
    KeysNotFetched,
    /// A redirect URI the provider accepts, to register as the app's web redirect URI.
    Redirect {
        uri: String,
    },
    /// Entra accepts http only for localhost.
    RedirectNotHttps {
        uri: String,
    },
    /// No tenant is configured (`ROTA_ENTRA_TENANT_ID`): nobody can sign in.
    NoTenant,
    TenantNotAllowed {
        named: String,
        allowed: String,
    },
    TenantsAllowed {
        allowed: String,
    },
}

impl Provider {
    /// Checks the configuration against the provider now: discovery and keys are fetched
    /// afresh (the cache sign-in uses is left alone). An unreachable provider is a failed
    /// check, never an error.
    pub async fn check(&self) -> Vec<Check> {
        let check = |name, passed, finding| Check {
            name,
            passed,
            finding,
        };
        let mut out = Vec::with_capacity(4);
        let discovered = match IssuerUrl::new(self.config.issuer.clone()) {
            Err(e) => Err(Finding::IssuerNotUrl {
                issuer: self.config.issuer.clone(),
                error: e.to_string(),
            }),
            Ok(issuer) => ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .map_err(|e| Finding::DiscoveryUnread {
                    url: format!("{}/.well-known/openid-configuration", self.config.issuer),
                    error: error_chain(&e),
                }),
        };
        match discovered {
            Ok(metadata) => {
                out.push(check(
                    CheckName::Issuer,
                    true,
                    Finding::Discovered {
                        issuer: metadata.issuer().as_str().to_owned(),
                        authorization: metadata.authorization_endpoint().as_str().to_owned(),
                    },
                ));
                let keys = metadata.jwks().keys().len();
                out.push(check(
                    CheckName::Keys,
                    keys > 0,
                    Finding::Keys {
                        count: keys,
                        from: metadata.jwks_uri().as_str().to_owned(),
                    },
                ));
            }
            Err(finding) => {
                out.push(check(CheckName::Issuer, false, finding));
                out.push(check(CheckName::Keys, false, Finding::KeysNotFetched));
            }
        }
        let redirect = self.redirect_uri.url();
        let loopback = redirect.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        out.push(check(
            CheckName::RedirectUri,
            redirect.scheme() == "https" || loopback,
            if redirect.scheme() == "https" || loopback {
                Finding::Redirect {
                    uri: redirect.to_string(),
                }
            } else {
                Finding::RedirectNotHttps {
                    uri: redirect.to_string(),
                }
            },
        ));
        out.push(tenant_check(&self.config.issuer, &self.config.tenants));
        out
    }
}

/// A tenant is configured, and an issuer that names a tenant (Entra's
/// `https://login.microsoftonline.com/{tenant}/v2.0`) names one of them.
fn tenant_check(issuer: &str, tenants: &[String]) -> Check {
    let named = url::Url::parse(issuer).ok().and_then(|u| {
        u.path_segments()?
            .find(|s| uuid::Uuid::parse_str(s).is_ok())
            .map(str::to_owned)
    });
    let allowed = tenants.join(", ");
    let (passed, finding) = match (tenants.first(), named) {
        (None, _) => (false, Finding::NoTenant),
        (Some(_), Some(named)) if !tenants.iter().any(|x| x.eq_ignore_ascii_case(&named)) => {
            (false, Finding::TenantNotAllowed { named, allowed })
        }
        (Some(_), _) => (true, Finding::TenantsAllowed { allowed }),
    };
    Check {
        name: CheckName::Tenant,
        passed,
        finding,
    }
}

/// An error and its causes on one line: reqwest hides the useful part in `source()`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_check_wants_a_tenant_and_the_issuers_own() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47".to_string();
        let entra = format!("https://login.microsoftonline.com/{t}/v2.0");
        assert!(tenant_check(&entra, std::slice::from_ref(&t)).passed);
        assert!(!tenant_check(&entra, &["00000000-0000-0000-0000-000000000001".into()]).passed);
        assert!(!tenant_check(&entra, &[]).passed);
        assert!(tenant_check("http://127.0.0.1:9000", std::slice::from_ref(&t)).passed);
    }
}
