//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), parsed robustly (G1).
//!
//! A header may hold several challenges, each a scheme followed by either a
//! token68 or comma-separated `name=value` parameters whose values may be
//! quoted strings with backslash escapes. Commas separate both parameters and
//! challenges, so a new challenge is recognised as a token that is not
//! followed by `=`. Pure and total: any input gives a (possibly empty) list.

/// One challenge: its scheme and parameters (names lowercased).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub token68: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a Bearer challenge tells an MCP client (G1, G13, G14).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// RFC 9728 `resource_metadata`: where the protected resource metadata is.
    pub resource_metadata: Option<String>,
    /// The scopes the server asks for, space-separated.
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope`, …
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The server challenged with the DPoP scheme (RFC 9449 §7.1): it takes
    /// DPoP-bound tokens.
    pub dpop: bool,
}

impl BearerChallenge {
    /// A DPoP server asking for its nonce in the proof (RFC 9449 §9).
    pub fn asks_dpop_nonce(&self) -> bool {
        self.error.as_deref() == Some("use_dpop_nonce")
    }
}

/// Every challenge in the values of one or more `WWW-Authenticate` headers.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values.into_iter().flat_map(parse_one).collect()
}

/// The first Bearer (or DPoP) challenge among `values`, if any.
pub fn bearer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<BearerChallenge> {
    let challenges = parse(values);
    let chosen = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .or_else(|| {
            challenges
                .iter()
                .find(|c| c.scheme.eq_ignore_ascii_case("dpop"))
        })?;
    let get = |name: &str| chosen.param(name).map(str::to_owned);
    Some(BearerChallenge {
        resource_metadata: get("resource_metadata"),
        scope: get("scope"),
        error: get("error"),
        error_description: get("error_description"),
        dpop: challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("dpop")),
    })
}

/// A response that refuses authorization: a `401`, or a `403` whose
/// challenge asks for more scope (G14).
#[derive(Clone, Debug)]
pub struct Refusal {
    /// Its Bearer (or DPoP) challenge (G1); `None` when it gave none the
    /// bridge can read, and discovery starts from the server's URL.
    pub challenge: Option<BearerChallenge>,
}

impl Refusal {
    /// Whether all it asks is that the same token go again with the DPoP
    /// nonce it gave (RFC 9449 §9).
    pub fn asks_dpop_nonce(&self) -> bool {
        self.challenge
            .as_ref()
            .is_some_and(BearerChallenge::asks_dpop_nonce)
    }
}

/// The refusal a response makes, if it refuses authorization.
pub fn refusal(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> Option<Refusal> {
    let challenge = bearer(
        headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let step_up = challenge.as_ref().and_then(|c| c.error.as_deref()) == Some("insufficient_scope");
    (status == reqwest::StatusCode::UNAUTHORIZED
        || (status == reqwest::StatusCode::FORBIDDEN && step_up))
        .then_some(Refusal { challenge })
}

fn parse_one(header: &str) -> Vec<Challenge> {
    let mut lexer = Lexer { rest: header };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        lexer.skip_separators();
        let Some(token) = lexer.token() else {
            // Not a token where one must be: skip a character and go on.
            if lexer.bump().is_none() {
                break;
            }
            continue;
        };
        lexer.skip_spaces();
        if lexer.peek() == Some('=') && !challenges.is_empty() && !lexer.is_token68_tail() {
            // `name=value`: a parameter of the current challenge.
            lexer.bump();
            lexer.skip_spaces();
            let value = lexer.value();
            if let Some(current) = challenges.last_mut() {
                current.params.push((token.to_ascii_lowercase(), value));
            }
            continue;
        }
        // A scheme: a new challenge, maybe with a token68 right after it.
        let mut challenge = Challenge {
            scheme: token,
            ..Challenge::default()
        };
        lexer.skip_spaces();
        if let Some(token68) = lexer.token68() {
            challenge.token68 = Some(token68);
        }
        challenges.push(challenge);
    }
    challenges
}

struct Lexer<'a> {
    rest: &'a str,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    fn token(&mut self) -> Option<String> {
        let end = self
            .rest
            .find(|c: char| !is_tchar(c))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token.to_owned())
    }

    /// Whether the `=` here ends a token68 (`abc==`) rather than starting a
    /// parameter value: only `=` signs follow, up to a comma or the end.
    fn is_token68_tail(&self) -> bool {
        let tail = self.rest.trim_start_matches('=');
        tail.trim_start().is_empty() || tail.trim_start().starts_with(',')
    }

    /// A token68 after a scheme, if what follows is not a parameter. `=`
    /// right after the token, followed by nothing or a comma, is token68
    /// padding (`abc==`); any other `=` (spaces around it are allowed) makes
    /// the token a parameter name.
    fn token68(&mut self) -> Option<String> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/".contains(c)))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let after = &self.rest[end..];
        let after_spaces = after.trim_start_matches([' ', '\t']);
        if after_spaces.starts_with('=') {
            let value = after_spaces
                .trim_start_matches('=')
                .trim_start_matches([' ', '\t']);
            let padding = after.starts_with('=') && (value.is_empty() || value.starts_with(','));
            if !padding {
                return None;
            }
        }
        let unpadded = after.trim_start_matches('=');
        let (token68, rest) = self.rest.split_at(self.rest.len() - unpadded.len());
        self.rest = rest;
        Some(token68.to_owned())
    }

    /// A parameter value: a quoted string (with `\` escapes) or a token.
    fn value(&mut self) -> String {
        if self.peek() != Some('"') {
            let end = self.rest.find([',', ' ', '\t']).unwrap_or(self.rest.len());
            let (value, rest) = self.rest.split_at(end);
            self.rest = rest;
            return value.to_owned();
        }
        self.bump();
        let mut value = String::new();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.bump() {
                        value.push(escaped);
                    }
                }
                c => value.push(c),
            }
        }
        value
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Issue 7: any header text parses without a panic (the parser is
        /// total), and a challenge written with quoted parameters reads back.
        #[test]
        fn any_header_parses_and_written_challenges_read_back(
            junk in ".{0,200}",
            scope in "[ -~]{0,30}",
            error in "[a-z_]{1,20}",
        ) {
            let _ = parse([junk.as_str()]);
            let quoted = scope.replace('\\', "\\\\").replace('"', "\\\"");
            let header = format!(
                "Basic realm=\"x\", Bearer error=\"{error}\", scope=\"{quoted}\", resource_metadata=\"https://h/prm\""
            );
            let challenge = bearer([header.as_str()]).expect("a Bearer challenge");
            prop_assert_eq!(challenge.scope.as_deref(), Some(scope.as_str()));
            prop_assert_eq!(challenge.error.as_deref(), Some(error.as_str()));
            prop_assert_eq!(challenge.resource_metadata.as_deref(), Some("https://h/prm"));
        }
    }

    /// An expected challenge: scheme, token68, parameters.
    type Row<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

    fn check(header: &str, expected: &[Row<'_>]) {
        let got = parse([header]);
        let want: Vec<Challenge> = expected
            .iter()
            .map(|(scheme, token68, params)| Challenge {
                scheme: scheme.to_string(),
                token68: token68.map(str::to_owned),
                params: params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            })
            .collect();
        assert_eq!(got, want, "{header}");
    }

    /// G1: the spellings servers use, one row each.
    #[test]
    fn parses_the_challenges_servers_send() {
        check("Bearer", &[("Bearer", None, &[])]);
        check(
            r#"Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#,
            &[(
                "Bearer",
                None,
                &[(
                    "resource_metadata",
                    "https://h/.well-known/oauth-protected-resource/mcp",
                )],
            )],
        );
        check(
            r#"Bearer realm="mcp", error="insufficient_scope", scope="files:read files:write""#,
            &[(
                "Bearer",
                None,
                &[
                    ("realm", "mcp"),
                    ("error", "insufficient_scope"),
                    ("scope", "files:read files:write"),
                ],
            )],
        );
        check(
            r#"Bearer error=invalid_token,error_description="the token expired, \"sorry\"""#,
            &[(
                "Bearer",
                None,
                &[
                    ("error", "invalid_token"),
                    ("error_description", "the token expired, \"sorry\""),
                ],
            )],
        );
        check(
            r#"Basic realm="x", Bearer scope="a b", resource_metadata="https://h/prm""#,
            &[
                ("Basic", None, &[("realm", "x")]),
                (
                    "Bearer",
                    None,
                    &[("scope", "a b"), ("resource_metadata", "https://h/prm")],
                ),
            ],
        );
        check(
            "Negotiate abc123==, Bearer",
            &[("Negotiate", Some("abc123=="), &[]), ("Bearer", None, &[])],
        );
        check(
            "  bearer   SCOPE = \"x\" ",
            &[("bearer", None, &[("scope", "x")])],
        );
    }

    #[test]
    fn bearer_picks_the_bearer_challenge_among_several() {
        let bearer = bearer([
            r#"Basic realm="x""#,
            r#"Bearer error="insufficient_scope", scope="admin""#,
        ])
        .unwrap();
        assert_eq!(bearer.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(bearer.scope.as_deref(), Some("admin"));
        assert!(super::bearer([r#"Basic realm="x""#]).is_none());
    }

    #[test]
    fn any_input_gives_an_answer() {
        for junk in [
            "",
            ",,,",
            "=",
            "\"",
            "Bearer =",
            "Bearer a=\"unterminated",
            "Bearer ,=,=",
            "é=ü",
            "Bearer a=1,,b=2",
        ] {
            let _ = parse([junk]);
        }
        check(
            "Bearer a=1,,b=2",
            &[("Bearer", None, &[("a", "1"), ("b", "2")])],
        );
    }
}
